// Package rfb is a client of the Remote Framebuffer protocol (RFC 6143, VNC). The protocol is
// separate from the transport: a Client runs over any io.ReadWriter, a TCP connection to a VNC
// server or the byte stream an Intel AMT redirection session turns into after its own
// handshake.
//
// The client keeps a persistent framebuffer in RGBA and reports, per server message, which
// rectangles changed. Pixel formats and encodings are pluggable: the server's pixels are read
// through a PixelFormat (32, 16 or 8 bits per pixel, true colour) and each encoding is a
// Decoder, so a transport with its own variant (AMT's encoding 16) adds one without changing
// the client.
//
// Bytes from the server are hostile: every length is checked against limits before anything
// is allocated, rectangles must lie inside the framebuffer, and compressed streams are read
// only as far as the rectangle being drawn needs.
package rfb

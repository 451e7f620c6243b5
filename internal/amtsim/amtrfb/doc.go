// Package amtrfb is an RFB server shaped like Intel AMT's KVM, for the AMT simulator (tests
// and demos only, never production).
//
// Serve speaks RFB the way AMT does as far as public clients (Intel's ui-toolkit,
// MeshCentral) show it: version "RFB 004.000", security None only, a 16 bpp RGB565
// little-endian ServerInit, only RGB565, RGB332 and AMT's gray formats accepted, RAW
// required in SetEncodings, updates as tiles of at most 64×64 in RAW or encoding 16 (one
// persistent zlib stream, or deflate stored blocks with zlib off), DesktopSize on resize, and
// the KVM data channel and KvmExtCmd in cut text. Faults a test needs (drop after ServerInit,
// oversize refusal, inactivity timeout) are switched on in Config.
//
// The picture comes from a Screen: VNCScreen reads a real VNC server (x11vnc on Xvfb, QEMU's
// -vnc) as a client and passes keys and pointer back to it; ImageScreen is a picture a test
// sets. Serve compares what it serves against what the client already has, tile by tile, as
// AMT compares frame buffers, so a Screen only says that something changed.
package amtrfb

// Package amt is the Intel AMT source: a machine's firmware KVM (keyboard, video, mouse with
// the operating system down or absent), reached through Intel's MPS or directly on a LAN.
//
//	amt+mps://USER@MPS_HOST[:PORT]/DEVICE_GUID   MPS over HTTPS (system roots or --mps-ca)
//	amt+mps+http://USER@MPS_HOST[:PORT]/GUID     MPS over plain HTTP, for a trusted network
//	amt://[USER@]HOST[:16994]                    AMT directly, without MPS
//
// Query options: bpp=auto|16|8 (AMT's 8 bpp mode for screens too large for 16; auto picks
// it from the size), display=N (the screen to show on a machine with several) and, in direct
// mode, wsman-port=N (AMT's WS-Man port when not 16992, behind a port forward).
//
// Before each connection the machine's power, screens and user consent are handled through
// MPS's REST API, or in direct mode over WS-Man on the machine's own port (management.go).
//
// Passwords never come from the spec: the MPS password from KVMAGENT_MPS_PASSWORD (or the
// file --mps-password-file names), the AMT password of direct mode from
// KVMAGENT_AMT_PASSWORD (or --amt-password-file).
//
// A connection is the redirection protocol (amt/redir) over MPS's relay WebSocket (amt/mps)
// or TCP, then RFB as AMT speaks it (rfb, encoding 16 in RGB565 or 8 bpp), served by the
// same video and input as a VNC source (device/vnc). The source connects only while a
// console watches (device.OnDemand): MPS allows one KVM session per machine and AMT may ask
// for the user's consent each time.
package amt

// Package firmware is a simulated Intel AMT firmware for tests and demos (cmd/amtsim device),
// not for production. It dials out to an MPS over TLS and speaks CIRA/APF as AMT does
// (amt/cira); on port-16994 channels it runs the redirection protocol with digest auth
// (amt/redir) and then serves RFB shaped like AMT (internal/amtsim/amtrfb) whose pixels and
// input pass to and from a real VNC server; on port-16992 channels it answers WS-Man
// (amt/wsman) for power, features, user consent and displays from Management, the state
// kept here.
package firmware

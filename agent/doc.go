// Package agent is kvmagent's runtime: it dials out to the relay (never listens), reconnects
// with backoff, and serves console sessions — one WebRTC peer connection each, carrying the
// device's video from a media.Source through an encoder, and its keyboard and mouse input
// through hid data channels into a hid.Sink. Several consoles may watch one machine: its
// floor (floor.go, control.go) decides which one holds control, and its hid.Arbiter lets that
// one's input alone through.
package agent

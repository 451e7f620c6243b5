// Package cira runs CIRA sessions: the TLS link an Intel AMT device dials out to an MPS,
// carrying APF (package apf). The Client is the device side (the AMT simulator's firmware):
// it logs in, forwards its ports and accepts the channels MPS opens to them. The Server is the
// MPS side (the fake MPS): it admits devices, answers their requests and opens channels to
// their ports with Dial.
//
// Channels are net.Conns with SSH-style window flow control in both directions. The link's
// read loop never waits: not for send credit, not for a slow channel reader (what the peer may
// send is bounded by the window we advertised, and more is a protocol error that drops the
// link), and not for the network (replies are queued for a writer goroutine). A fake device
// that blocks its read loop on credit deadlocks against the real MPS; this one cannot.
package cira

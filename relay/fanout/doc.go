// Package fanout is the relay's side of fan-out: on the node that holds a machine's stream it
// receives the device's video once, over an uplink session with the agent (the relay's own
// receive-only peer connection), and hands the stream to an sfu.Forwarder that every relayed
// viewer (and, later, a recording) reads from. Input and control stay peer to peer between
// each console and the agent; only video comes through here.
//
// Hub.Acquire starts the uplink of a machine on first use and shares it; the last release
// stops it after a linger, so a console reloading its page does not restart the device's
// stream. An uplink that fails (the agent restarted, its path broke) is started again while
// anyone holds the machine, feeding the same Forwarder: its viewers wait for the next keyframe.
package fanout

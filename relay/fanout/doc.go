// Package fanout is the relay's side of fan-out: on the node that holds a machine's stream it
// receives the device's video once, over an uplink session with the agent (the relay's own
// receive-only peer connection), and hands the stream to an sfu.Forwarder that every relayed
// viewer (and a recording) reads from. Input and control stay peer to peer between each
// console and the agent; only video comes through here.
//
// Hub.Acquire starts the uplink of a machine on first use and shares it; the last release
// stops it after a linger, so a console reloading its page does not restart the device's
// stream. An uplink that fails (the agent restarted, its path broke) is started again while
// anyone holds the machine, feeding the same Forwarder: its viewers wait for the next keyframe.
//
// Several nodes (lease.go): exactly one node at a time receives a machine's stream from the
// agent. It claims the machine in the shared registry (signaling.StreamLeases: Redis across
// nodes) with a lease it renews every third of its lifetime (Config.LeaseTTL, 6 s) and
// releases when its stream stops; a node that dies or is cut off from Redis stops renewing,
// and its lease expires within a lifetime. Any other node whose consoles need the stream
// receives it from the holder over a node link (signaling.StartStreamLink): a peer connection
// between the two nodes, which the holder serves as it serves a relayed console
// (Viewers.StartViewer, holder only: AcquireAsHolder) and this node receives as it would an
// uplink, into its own Forwarder for its own viewers. The agent thus uploads one relayed
// stream for the whole deployment; a node's viewers' keyframe requests are folded by its
// forwarder into one request up the link, which the holder's forwarder folds with its own
// into one request to the agent. A node receiving through a link watches the lease: when it
// moves or expires, the link ends, this node claims the machine itself (or links to the new
// holder) and feeds the same Forwarder, so its viewers get video again at the next keyframe
// on the peer connection they already have.
//
// Why a node-to-node link rather than routing each console's video signaling to the holder
// (the console's video peer connection then running between the browser and the holder):
// cross-node traffic is one stream per node, not one per viewer; congestion control and
// keyframes-only for a slow viewer stay on the viewer's own node (sfu), beside its
// signaling; the console keeps one ICE configuration (its node's TURN) and is never told
// to reconnect when the holder changes; and the link reuses the uplink's receiving side and
// the relayed viewer's sending side as they are. LiveKit spans nodes the same way: its nodes
// relay published tracks to each other over peer connections, with the signaling of a
// session routed to a node over a per-node topic of its message bus. The cost is one extra
// hop of latency (a LAN's, between nodes) for consoles of the nodes that do not hold the
// machine.
package fanout

// Package sfu forwards one device's video stream to many viewers without re-encoding: the
// relay receives the agent's stream once and fans its RTP packets out, so a PiKVM uploads one
// stream however many consoles watch.
//
// A Forwarder takes the upstream packets from its owner (WriteRTP, from a loop reading a
// pion TrackRemote, or a test, or later a recorder) and hands each to every Viewer. A Viewer
// is a webrtc.TrackLocal of its own, added to one browser's send-only PeerConnection; per
// binding it rewrites the SSRC and payload type, maps the header extensions worth keeping by
// URI, and renumbers packets so that its receiver sees contiguous sequence numbers even when
// frames are dropped for it (a gap it would NACK for nothing). Packets go out through the
// viewer connection's interceptors, so pion's NACK responder stores and resends them under
// the rewritten numbers.
//
// Keyframes are what a forwarder cannot make. A new viewer (or one whose transport was not up
// yet, or after the upstream restarted) gets nothing until a keyframe starts, and asks for
// one; viewers' PLI/FIR and these asks are folded into at most one upstream request per
// interval (Config.OnKeyframeRequest), and a keyframe that arrives satisfies whatever was
// pending.
//
// One slow viewer must not blur everyone, and the device cannot encode per viewer: each
// viewer compares its connection's send-side bandwidth estimate (GCC, from NewViewerAPI)
// with the upstream bitrate, and when it cannot carry the stream it goes keyframes-only:
// it forwards key frames alone and asks for one every few seconds, so its console still
// shows a current picture while the others keep the full frame rate. It returns to the full
// stream at a keyframe once its estimate has recovered for a while, and waits longer each
// time a return fails (GCC's estimate climbs while the sender is application-limited, so a
// recovered estimate is a hint, not proof).
package sfu

// Package x264 is a small cgo wrapper over libx264 that produces what a WebRTC browser wants
// with the least delay: Constrained Baseline (profile_idc 66 with constraint_set0/1, so it
// matches profile-level-id 42e01f/42c01f and packetization-mode 1), Annex-B access units
// with SPS/PPS before every IDR, no B-frames, no lookahead, sliced threads (tune
// zerolatency), CBR with a small VBV, and no keyframes but the ones asked for.
//
// Why not pion/mediadevices' pkg/codec/x264 (v0.9.4): it applies profile "high", never sets
// the frame rate (x264 then budgets bits for 25 fps), sizes the VBV at two seconds and, on a
// bitrate change, at bitrate + 5 Mbps, forces a keyframe every 60 frames, writes the
// force-keyframe flag from other goroutines without synchronisation, holds its mutex across
// the whole encode (so a bitrate change from the congestion controller waits for a frame),
// and only reads frames through its own pull-based video.Reader.
//
// Damage-driven sources run faster than their steady rate while input arrives. x264's rate
// control in zero-latency mode budgets per frame at the configured rate (timestamps would
// cost a frame of delay), so the encoder scales the bitrate it hands x264 by the measured
// frame interval; see rateScaler.
//
// Without cgo the package builds, and New returns media.ErrCodecUnavailable.
package x264

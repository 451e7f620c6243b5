// Package vpx is a small cgo wrapper over libvpx's VP8 encoder, set up for real-time screen
// content: one-pass CBR, realtime deadline, no lag-in-frames, error resilient, a high
// cpu-used, static-block skipping, no dropped frames, keyframes only when asked (or at a
// configured interval), and keyframe size capped to the rate buffer.
//
// Why not pion/mediadevices' pkg/codec/vpx (v0.9.4): it offers no way to set cpu-used (VP8
// then runs at speed 0, far too slow for 1080p on two cores), threads, the static threshold,
// or the keyframe size cap; it forces a keyframe every 60 frames; it re-applies the whole
// configuration on every frame; it stamps frames with the wall clock at encode time instead
// of the capture time; and it reads frames only through its own video.Reader.
//
// VP8's rate control follows the frame timestamps, so frames are stamped with their capture
// time: a damage-driven source that speeds up is budgeted correctly.
//
// Without cgo the package builds, and New returns media.ErrCodecUnavailable.
package vpx

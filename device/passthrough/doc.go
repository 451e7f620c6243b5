// Package passthrough is the video of a connection whose source already encodes H.264
// (h264+http, rtsp): access units go to the WebRTC track as they are, without the agent's
// encoder. A reader goroutine (the protocol's) pushes access units that went through an
// h264.Gate; Next hands them out in order.
//
// Slow consumer: the queue holds at most MaxFrames access units (and MaxBytes). P-frames cannot
// be skipped (each refers to the one before), so an overflow drops everything queued before
// the newest queued IDR, or, with none queued, everything up to the next IDR the source sends,
// and logs how many it dropped. The picture then freezes until that IDR instead of smearing.
//
// Keyframes: every viewer watches the same track, so a new viewer (or a PLI) cannot be handed
// the last IDR again: existing viewers would decode a stale IDR and then P-frames that refer
// to pictures after it, and the new one P-frames whose references it never got. RequestKeyframe
// therefore asks the source for an IDR where its protocol can (RTCP PLI over RTSP, which some
// cameras and GStreamer's RTSP server honour), throttled, and otherwise the new viewer starts
// at the source's next IDR: it waits at most one GOP (keyframe interval / frame rate: -g 60 at
// 30 fps is 2 s).
package passthrough

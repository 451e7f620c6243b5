// Package h264http is the video source for a raw H.264 elementary stream (Annex-B byte stream)
// over HTTP, as `ffmpeg … -c:v libx264 -f h264 -listen 1 http://0.0.0.0:8080/x` serves it and
// some encoders and cameras do. The spec is the stream's URL with "h264+" in front:
// h264+http://encoder:8080/x. The access units pass through to the WebRTC track without being
// decoded or re-encoded (see device/passthrough).
//
// The byte stream has no framing: an access unit ends where the next begins, so each one is
// handed on when the next picture's first bytes arrive, one frame interval (33 ms at 30 fps)
// after its own last byte. RTSP, whose RTP marker bit ends an access unit, has no such delay.
//
// A new viewer starts at the stream's next IDR (HTTP has no way to ask for one): up to one GOP,
// keyframe interval / frame rate, 2 s for -g 60 at 30 fps. Recommended encoder settings: a
// short GOP (-g equal to the frame rate, 1 s), Constrained Baseline (-profile:v baseline) or
// any profile without B-frames (-bf 0; browsers do not reorder frames, so a stream with B
// slices is refused), -tune zerolatency. Intra refresh instead of IDRs does not work: browsers
// start decoding only at an IDR.
package h264http

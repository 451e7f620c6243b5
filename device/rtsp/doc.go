// Package rtsp is the video source for RTSP servers and IP cameras that send H.264:
// rtsp://[USER[:PASSWORD]@]HOST[:PORT]/PATH (and rtsps://). The client is
// github.com/bluenviron/gortsplib (the RTSP stack of MediaMTX); RTP is depacketized into
// Annex-B access units that pass through to the WebRTC track without re-encoding (see
// device/passthrough). The RTP marker bit ends an access unit, so nothing waits for the next
// picture.
//
// Transport: RTP interleaved in the RTSP TCP connection by default (one port, through NAT and
// firewalls, no loss); ?transport=udp asks for UDP, which loses packets on busy links (a loss
// holds the picture until the next IDR). The password comes from the URL or, for a user
// without one, from KVMAGENT_RTSP_PASSWORD.
//
// Parameter sets: many cameras send SPS and PPS only in the SDP (sprop-parameter-sets) or only
// now and then; every IDR passed on carries them in front.
//
// Keyframes: RTSP has no standard keyframe request. A new viewer or a PLI sends an RTCP PLI to
// the server (throttled); GStreamer's RTSP server and some cameras answer with an IDR, the rest
// ignore it and the viewer starts at the next periodic IDR: up to one GOP, keyframe interval /
// frame rate (a camera's default of 2 s at 25 fps, 50 frames, waits up to 2 s). Recommended
// camera settings: H.264 (not H.265), a keyframe interval of 1 s (I-frame interval = frame
// rate), Baseline or Main profile, and no B-frames (browsers do not reorder frames; a stream
// with B slices is refused with an error that says so). Smart codecs (H.264+, "smart
// streaming") stretch the GOP to many seconds: turn them off.
package rtsp

package sfu

import "time"

// ForwarderStats describes the upstream stream and the keyframe requests made for it.
type ForwarderStats struct {
	PacketsReceived, BytesReceived    uint64
	FramesReceived, KeyframesReceived uint64
	// LatePackets arrived after a newer one (reordered, or retransmitted upstream).
	LatePackets uint64
	// Restarts counts new numberings: an SSRC change or a jump in sequence numbers.
	Restarts uint64
	// BitrateBps is the upstream bitrate over the sliding window (Config.RateWindow).
	BitrateBps int
	// KeyframeRequestsAsked are the viewers' asks (joins, PLI/FIR, retries, keyframes-only);
	// KeyframeRequestsSent the upstream requests they were folded into (OnKeyframeRequest).
	KeyframeRequestsAsked, KeyframeRequestsSent uint64
	Viewers                                     int
}

// ViewerStats describes what one viewer was sent.
type ViewerStats struct {
	PacketsSent, BytesSent uint64
	// FramesSent counts frames of which at least one packet went out; FramesDropped frames
	// the viewer saw start and sent nothing of (waiting for a keyframe, or keyframes-only).
	FramesSent, FramesDropped, KeyframesSent uint64
	// KeyframeRequests counts the receiver's PLI and FIR; KeyframeAsks what this viewer asked
	// the forwarder for (its PLI/FIR, its join, retries, keyframes-only refreshes).
	KeyframeRequests, KeyframeAsks uint64
	// NACKedPackets counts packets the receiver asked again for; pion's NACK responder answers.
	NACKedPackets uint64
	WriteErrors   uint64
	// WaitingForKeyframe: the viewer has nothing to decode from until the next keyframe.
	WaitingForKeyframe bool
	// KeyframesOnly: the viewer's link cannot carry the stream; it is sent keyframes alone.
	KeyframesOnly        bool
	KeyframesOnlyEntered int
	KeyframesOnlyTime    time.Duration
	// EstimateBps is the viewer connection's bandwidth estimate; 0 without an estimator.
	EstimateBps int
	// FractionLost is the loss the receiver last reported, 0…1.
	FractionLost float64
}

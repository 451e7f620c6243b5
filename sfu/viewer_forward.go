package sfu

import (
	"time"

	"github.com/pion/rtp"
)

// forward decides what one upstream packet is for this viewer and sends it. Called with the
// forwarder's lock held, in upstream arrival order.
func (v *Viewer) forward(p *rtp.Packet, in *packetInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.b
	if b == nil || v.closed {
		return
	}
	if in.restart || !v.based {
		v.m.rebase(in.ext, p.Timestamp, in.now, v.f.cfg.Codec.ClockRate)
		if in.restart && v.based {
			v.enterWaitLocked()
			v.askLocked(in.now)
		}
		v.based = true
	}
	if !in.newer {
		v.forwardLateLocked(b, p, in)
		return
	}
	if in.padding {
		v.m.drop(in.ext)
		return
	}
	if in.frameStart {
		v.startFrameLocked(in)
	}
	if in.keyStart {
		// A keyframe may start after a frame's first packet (an SEI before the IDR): what came
		// before it is not needed to decode.
		v.fwdFrame, v.waiting = true, false
		v.cc.keyframe(in.now)
	}
	if !v.fwdFrame {
		v.m.drop(in.ext)
		return
	}
	seq, ts := v.m.peek(in.ext, p.Timestamp)
	n, err := v.writeLocked(b, p, seq, ts)
	switch {
	case err != nil:
		// The interceptors have seen it (the NACK responder may resend it): the number is
		// spent.
		v.stats.WriteErrors++
		v.m.send(in.ext, p.Timestamp, in.now)
	case n == 0:
		// pion drops writes until the connection's DTLS is up: nothing went out, so the
		// viewer starts over at the next keyframe it can receive.
		v.m.drop(in.ext)
		v.enterWaitLocked()
		v.maybeAskLocked(in.now)
	default:
		v.m.send(in.ext, p.Timestamp, in.now)
		v.stats.PacketsSent++
		v.stats.BytesSent += uint64(n)
		if !v.frameAny {
			v.frameAny = true
			v.stats.FramesSent++
		}
		if in.keyStart && !v.frameKey {
			v.frameKey = true
			v.stats.KeyframesSent++
			v.lastKey = in.now
		}
	}
}

// forwardLateLocked sends a reordered or retransmitted upstream packet if it belongs to a
// stretch this viewer was sent.
func (v *Viewer) forwardLateLocked(b *binding, p *rtp.Packet, in *packetInfo) {
	if in.padding || v.waiting {
		return
	}
	seq, ts, ok := v.m.late(in.ext, p.Timestamp)
	if !ok {
		return
	}
	n, err := v.writeLocked(b, p, seq, ts)
	switch {
	case err != nil:
		v.stats.WriteErrors++
	case n > 0:
		v.stats.PacketsSent++
		v.stats.BytesSent += uint64(n)
	}
}

// startFrameLocked closes the books on the frame before, lets the congestion state see the
// estimate, and decides whether the new frame is sent.
func (v *Viewer) startFrameLocked(in *packetInfo) {
	if v.seenFrame && !v.frameAny {
		v.stats.FramesDropped++
	}
	v.seenFrame, v.frameAny, v.frameKey = true, false, false
	if v.cfg.Estimator != nil && !v.waiting {
		v.estimate = v.cfg.Estimator.GetTargetBitrate()
		wasKeyframesOnly := v.cc.keyframesOnly
		if v.cc.update(in.now, v.estimate, in.upstreamBps) {
			v.log.Info("viewer's link recovered: back to the full stream at the next keyframe", "estimate_bps", v.estimate, "upstream_bps", in.upstreamBps)
			v.askLocked(in.now)
		}
		if v.cc.keyframesOnly && !wasKeyframesOnly {
			v.log.Info("viewer's link cannot carry the stream: keyframes only", "estimate_bps", v.estimate, "upstream_bps", in.upstreamBps)
		}
	}
	v.fwdFrame = !v.waiting && !v.cc.keyframesOnly
	v.maybeAskLocked(in.now)
}

// writeLocked sends p to the binding as packet seq with timestamp ts, through the
// connection's interceptors (NACK responder, TWCC, congestion control).
func (v *Viewer) writeLocked(b *binding, p *rtp.Packet, seq uint16, ts uint32) (int, error) {
	h := &b.hdr
	h.Version = 2
	h.Padding, h.PaddingSize = false, 0
	h.Marker = p.Marker
	h.PayloadType = b.pt
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.SSRC = b.ssrc
	h.CSRC = p.CSRC
	copyExtensions(h, &p.Header, b.ext)
	return b.writer.WriteRTP(h, p.Payload)
}

// enterWaitLocked makes the viewer wait for a keyframe.
func (v *Viewer) enterWaitLocked() {
	v.waiting, v.fwdFrame = true, false
}

// maybeAskLocked repeats keyframe requests that went unanswered: a viewer waiting for one
// asks every WaitKeyframeRetry, a keyframes-only viewer every Congestion.KeyframeInterval
// after its last keyframe.
func (v *Viewer) maybeAskLocked(now time.Time) {
	switch {
	case v.waiting:
		if now.Sub(v.lastAsk) >= v.f.cfg.WaitKeyframeRetry {
			v.askLocked(now)
		}
	case v.cc.keyframesOnly:
		last := v.lastAsk
		if v.lastKey.After(last) {
			last = v.lastKey
		}
		if now.Sub(last) >= v.cc.cfg.KeyframeInterval {
			v.askLocked(now)
		}
	}
}

// askLocked asks the forwarder for a keyframe.
func (v *Viewer) askLocked(now time.Time) {
	v.lastAsk = now
	v.stats.KeyframeAsks++
	v.f.requestKeyframe()
}

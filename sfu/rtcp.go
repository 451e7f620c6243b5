package sfu

import (
	"errors"
	"io"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// rtcpBufferSize holds any compound RTCP packet a receiver sends (it fits in one datagram).
const rtcpBufferSize = 1 << 16

// readRTCP reads the viewer's RTCP for its binding until pion closes the sender's stream.
// Reading is what drives the connection's interceptors (the NACK responder, the bandwidth
// estimator): nothing else reads this sender's RTCP. PLI and FIR ask for a keyframe.
func (v *Viewer) readRTCP(r interceptor.RTCPReader, ssrc uint32) {
	defer v.readerDone()
	buf := make([]byte, rtcpBufferSize)
	for {
		n, _, err := r.Read(buf, nil)
		if errors.Is(err, io.ErrShortBuffer) {
			continue
		}
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue // the interceptors had their look; a bad packet ends nothing
		}
		for _, p := range pkts {
			v.handleRTCP(p, ssrc)
		}
	}
}

func (v *Viewer) handleRTCP(p rtcp.Packet, ssrc uint32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch p := p.(type) {
	case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
		v.stats.KeyframeRequests++
		// A keyframes-only viewer gets keyframes on a schedule: its PLIs would make the
		// device send one every throttle interval, which every other viewer pays for.
		if !v.closed && (v.waiting || !v.cc.keyframesOnly) {
			v.askLocked(v.f.cfg.Clock.Now())
		}
	case *rtcp.TransportLayerNack:
		for _, pair := range p.Nacks {
			v.stats.NACKedPackets += uint64(len(pair.PacketList()))
		}
	case *rtcp.ReceiverReport:
		for _, r := range p.Reports {
			if r.SSRC == ssrc {
				v.stats.FractionLost = float64(r.FractionLost) / 256
			}
		}
	}
}

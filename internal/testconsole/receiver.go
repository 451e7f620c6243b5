package testconsole

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

// A receiver behaves as a browser's video receiver does for what matters to a sender: it
// sends NACKs, receiver reports and transport-wide congestion feedback (pion's default
// interceptors), reassembles frames, treats a frame as decodable only when every frame since
// the last keyframe was complete, asks for a keyframe (PLI) while it cannot decode, and keeps
// the times at which decodable frames completed, so tests can count freezes.

// receiverInterceptors adds the browser-like feedback to the console's peer connections.
func receiverInterceptors(m *webrtc.MediaEngine) (*interceptor.Registry, error) {
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// frameLog records when decodable frames completed.
type frameLog struct {
	mu     sync.Mutex
	times  []time.Time
	plis   int
	broken bool // a frame was lost since the last keyframe: nothing decodes until the next
}

// pliInterval is how often an undecodable receiver repeats its keyframe request (Chromium
// repeats about this often).
const pliInterval = 300 * time.Millisecond

// receive reads a video track until it ends, reassembling frames. also, when set, counts the
// packets too (the relayed video connection's own count).
func (c *Console) receive(tr *webrtc.TrackRemote, pc *webrtc.PeerConnection, also *atomic.Int64) {
	var depacketizer rtp.Depacketizer = &codecs.H264Packet{}
	h264Stream := true
	if strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeVP8) {
		depacketizer, h264Stream = &codecs.VP8Packet{}, false
	}
	sb := samplebuilder.New(512, depacketizer, tr.Codec().ClockRate, samplebuilder.WithMaxTimeDelay(time.Second))
	var lastPLI time.Time
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		c.videoPackets.Add(1)
		if also != nil {
			also.Add(1)
		}
		c.firstOnce.Do(func() { close(c.firstVideo) })
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			key := isKeyframe(s.Data, h264Stream)
			now := time.Now()
			c.frames.mu.Lock()
			if s.PrevDroppedPackets > 0 {
				c.frames.broken = true
			}
			if key {
				c.frames.broken = false
			}
			if !c.frames.broken {
				c.frames.times = append(c.frames.times, now)
			}
			broken := c.frames.broken
			c.frames.mu.Unlock()
			if broken && now.Sub(lastPLI) >= pliInterval {
				lastPLI = now
				_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
				c.frames.mu.Lock()
				c.frames.plis++
				c.frames.mu.Unlock()
			}
		}
	}
}

func isKeyframe(data []byte, isH264 bool) bool {
	if !isH264 {
		return len(data) > 0 && data[0]&0x01 == 0
	}
	for _, nal := range h264.SplitAnnexB(data) {
		if h264.NALType(nal) == h264.NALIDRSlice {
			return true
		}
	}
	return false
}

// DecodableFrames reports how many decodable frames completed since since.
func (c *Console) DecodableFrames(since time.Time) int {
	c.frames.mu.Lock()
	defer c.frames.mu.Unlock()
	n := 0
	for _, t := range c.frames.times {
		if !t.Before(since) {
			n++
		}
	}
	return n
}

// Freezes returns the gaps longer than over between consecutive decodable frames in
// [from, to] (counting from `from` to the first frame, and from the last frame to `to`).
// Needs Config.Receiver.
func (c *Console) Freezes(from, to time.Time, over time.Duration) []time.Duration {
	c.frames.mu.Lock()
	defer c.frames.mu.Unlock()
	var gaps []time.Duration
	prev := from
	for _, t := range c.frames.times {
		if t.Before(from) || t.After(to) {
			continue
		}
		if d := t.Sub(prev); d > over {
			gaps = append(gaps, d)
		}
		prev = t
	}
	if d := to.Sub(prev); d > over {
		gaps = append(gaps, d)
	}
	return gaps
}

// KeyframeRequests is how many PLIs the receiver sent.
func (c *Console) KeyframeRequests() int {
	c.frames.mu.Lock()
	defer c.frames.mu.Unlock()
	return c.frames.plis
}

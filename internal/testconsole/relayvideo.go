package testconsole

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// relayedVideo is the console's second peer connection, as the page's: the relay offers it
// (video-offer) when the console's video comes through the relay rather than from the agent;
// its track counts with the agent's (VideoPackets, WaitVideo) and on its own (RelayedPackets).
type relayedVideo struct {
	mu        sync.Mutex
	pc        *webrtc.PeerConnection
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	closed    bool
	offers    int

	packets atomic.Int64
}

// relayedVideoMessage handles the relay's video-offer and video-candidate.
func (c *Console) relayedVideoMessage(env wire.Envelope) {
	switch env.Type {
	case wire.TypeVideoOffer:
		var d wire.SDP
		if wire.DecodeData(env, &d) != nil {
			return
		}
		if err := c.answerRelayedVideo(d.SDP); err != nil {
			c.recordError(wire.ErrorMessage{Code: "local", Message: "relayed video: " + err.Error()})
		}
	case wire.TypeVideoCandidate:
		var cand wire.Candidate
		if wire.DecodeData(env, &cand) != nil || cand.Candidate == "" {
			return
		}
		init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex}
		r := &c.relayed
		r.mu.Lock()
		if r.pc == nil || !r.remoteSet {
			r.pending = append(r.pending, init)
			r.mu.Unlock()
			return
		}
		pc := r.pc
		r.mu.Unlock()
		_ = pc.AddICECandidate(init)
	}
}

// answerRelayedVideo replaces the relayed video connection with a new one answering sdp (the
// relay offers anew after each join).
func (c *Console) answerRelayedVideo(sdp string) error {
	pc, err := c.newPeerConnection()
	if err != nil {
		return err
	}
	r := &c.relayed
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if c.cfg.Receiver {
			// As a browser receives: frames, PLIs, feedback (counted by receive).
			c.wg.Go(func() { c.receive(tr, pc, &r.packets) })
			return
		}
		c.wg.Go(func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				r.packets.Add(1)
				c.videoPackets.Add(1)
				c.firstOnce.Do(func() { close(c.firstVideo) })
			}
		})
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			_ = c.sig.Send(wire.TypeVideoCandidate, c.sid, wire.Candidate{})
			return
		}
		init := cand.ToJSON()
		_ = c.sig.Send(wire.TypeVideoCandidate, c.sid, wire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	})
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.Join(errors.New("console closed"), pc.Close())
	}
	old := r.pc
	// Candidates that came before this offer belong to it (the relay trickles after offering).
	r.pc, r.remoteSet, r.offers = pc, false, r.offers+1
	r.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("relay's offer: %w", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	r.mu.Lock()
	pending := r.pending
	r.pending, r.remoteSet = nil, true
	r.mu.Unlock()
	for _, p := range pending {
		_ = pc.AddICECandidate(p)
	}
	return c.sig.Send(wire.TypeVideoAnswer, c.sid, wire.SDP{SDP: ans.SDP})
}

// closeRelayedVideo closes the relayed video connection for good.
func (c *Console) closeRelayedVideo() {
	r := &c.relayed
	r.mu.Lock()
	r.closed = true
	pc := r.pc
	r.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
}

// RelayedPackets counts the video packets that came over the relay's video connection.
func (c *Console) RelayedPackets() int64 { return c.relayed.packets.Load() }

// RelayedOffers counts the relay's video offers answered.
func (c *Console) RelayedOffers() int {
	c.relayed.mu.Lock()
	defer c.relayed.mu.Unlock()
	return c.relayed.offers
}

// RelayedVideoPeer returns the relay's video connection, nil when none was offered.
func (c *Console) RelayedVideoPeer() *webrtc.PeerConnection {
	c.relayed.mu.Lock()
	defer c.relayed.mu.Unlock()
	return c.relayed.pc
}

// AgentVideo reports whether the agent's connection carries a video m-line (a console whose
// video the relay forwards gets data channels only from the agent).
func (c *Console) AgentVideo() bool {
	for _, t := range c.pc.GetTransceivers() {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			return true
		}
	}
	return false
}

// WaitRelayedVideo waits for the first video packet over the relay's video connection.
func (c *Console) WaitRelayedVideo(ctx context.Context) error {
	for c.RelayedPackets() == 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for relayed video: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-c.failed:
			return errors.New("peer connection failed before relayed video")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

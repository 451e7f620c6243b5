package signaling

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kvmrelay/kvmrelay/signaling/internal/peerconn"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Relayed viewers (fan-out): the first P2PViewers consoles of a device on this node get their
// video peer to peer from the agent; a console that joins beyond them gets a session-start
// with video:false (the agent opens its data channels only: input, control and the roster
// stay peer to peer) and its video over a second peer connection the relay itself offers
// (video-offer / video-answer / video-candidate under the console's sid).
//
// The count is of this node's consoles: a device whose consoles connect to several nodes has
// up to P2PViewers agent-video consoles per node.

// VideoRelay is the relay's side of relayed viewers (relay/fanout's Viewers).
type VideoRelay interface {
	// StartViewer starts the relay's video peer connection to a console session and returns
	// at once; what the relay says to the console (video-offer, video-candidate) goes through
	// send. The peer ends with ctx or Close.
	StartViewer(ctx context.Context, v RelayedViewer, send ViewerSend) (ViewerPeer, error)
	// Decodes reports whether a console decoding codecs (its join's) can play any stream the
	// relay may forward; one that cannot gets its video from the agent, which picks a codec
	// for it alone.
	Decodes(codecs []string) bool
}

// ViewerSend delivers a message of the relay's video peer connection to its console.
type ViewerSend func(ctx context.Context, t wire.Type, data any) error

// RelayedViewer names the console session whose video the relay forwards, and the machine.
type RelayedViewer struct {
	SID                   string
	Device, Agent, Target string
	// ForceRelay is the console's choice to reach peers through TURN only.
	ForceRelay bool
	// ForNode, set for a node link (streamlink.go), is the relay node the stream goes to
	// rather than a console: the peer serves only while this node holds the machine's stream
	// (it never gets the stream from yet another node).
	ForNode string
}

// ViewerPeer is one relayed viewer's peer connection on the relay.
type ViewerPeer interface {
	// Answer applies the console's answer to the relay's offer.
	Answer(sdp string) error
	// Candidate adds one of the console's trickled candidates (empty: gathering ended).
	Candidate(c wire.Candidate) error
	// Close ends the peer connection and waits for it.
	Close()
}

// relayedVideo decides, at a console's join, whether its video comes through the relay: yes
// when the relay relays video and this node has P2PViewers other consoles of the device with
// the agent's video, and the console decodes what the relay forwards. It records the
// console's choice for the next joins.
func (s *Server) relayedVideo(live *liveConn, codecs []string) bool {
	if s.cfg.Viewers == nil {
		return false
	}
	decodes := s.cfg.Viewers.Decodes(codecs)
	s.mu.Lock()
	defer s.mu.Unlock()
	p2p := 0
	for sid, lc := range s.consoles {
		if sid != live.sid && lc.device == live.device && lc.agentVideo {
			p2p++
		}
	}
	live.agentVideo = p2p < s.cfg.P2PViewers || !decodes
	return !live.agentVideo
}

// startRelayedViewer ends the console's previous relayed video, if any, and starts the relay's
// video peer connection for it when relayed says so.
func (s *Server) startRelayedViewer(ctx context.Context, log *slog.Logger, info SessionInfo, state *consoleState, forceRelay, relayed bool) error {
	state.stopViewer()
	if !relayed {
		return nil
	}
	sid := info.SID
	send := func(ctx context.Context, t wire.Type, data any) error {
		msg, err := wire.Encode(t, sid, data)
		if err != nil {
			return err
		}
		// Through the console's topic, as the agent's messages: whichever node holds the
		// console delivers it.
		if err := s.cfg.Bus.Publish(ctx, consoleTopic(sid), msg); err != nil {
			return fmt.Errorf("signaling: %s to console %s: %w", t, sid, err)
		}
		return nil
	}
	peer, err := s.cfg.Viewers.StartViewer(ctx, RelayedViewer{SID: sid, Device: info.Device, Agent: info.Agent, Target: info.Target, ForceRelay: forceRelay}, send)
	if err != nil {
		return fmt.Errorf("signaling: relayed video for %s: %w", sid, err)
	}
	state.viewer = peer
	log.Info("console's video relayed", "p2p_viewers", s.cfg.P2PViewers)
	return nil
}

// stopViewer ends the console's relayed video peer connection, if it has one.
func (st *consoleState) stopViewer() {
	if st.viewer != nil {
		st.viewer.Close()
		st.viewer = nil
	}
}

// handleViewerMessage applies a console's video-answer or video-candidate to its relayed
// video peer connection; one without a relayed video is dropped.
func (s *Server) handleViewerMessage(pc *peerconn.Conn, log *slog.Logger, info SessionInfo, state *consoleState, env wire.Envelope) bool {
	var err error
	switch env.Type {
	case wire.TypeVideoAnswer:
		var d wire.SDP
		if err := wire.DecodeData(env, &d); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if err := wire.CheckSDP(d.SDP); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if state.viewer == nil {
			break
		}
		err = state.viewer.Answer(d.SDP)
	case wire.TypeVideoCandidate:
		var cand wire.Candidate
		if err := wire.DecodeData(env, &cand); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if state.viewer == nil {
			break
		}
		err = state.viewer.Candidate(cand)
	}
	// Dropped without an error: a late candidate of a video connection the console replaced
	// (it joined again, and may now get its video from the agent) is no fault of the page's,
	// and its negotiation timeout covers a connection that never comes up.
	if state.viewer == nil {
		s.metrics.Messages.WithLabelValues("console", string(env.Type), "dropped").Inc()
		log.Debug("video negotiation without relayed video dropped", "type", env.Type)
		return true
	}
	if err != nil {
		s.metrics.Messages.WithLabelValues("console", string(env.Type), "dropped").Inc()
		log.Debug("relayed video message dropped", "type", env.Type, "err", err)
		return true
	}
	s.metrics.Messages.WithLabelValues("console", string(env.Type), "ok").Inc()
	return true
}

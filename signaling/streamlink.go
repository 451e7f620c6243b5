package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Node links (fan-out across nodes): a relay node that needs a machine's stream which another
// node holds (StreamLeases) receives it from that node, once, over a peer connection between
// the two nodes: the holder serves it as it serves a relayed console (VideoRelay.StartViewer,
// holder only), the other node receives it as it would an agent's uplink. The signaling goes
// over the bus: the receiving node's messages (start, answer, candidate, close) on the
// holder's topic "node/<id>", the holder's (offer, candidate, bye) on the link's session
// topic, as an agent's to an uplink.

// StreamLinkSIDPrefix starts the session id of a node link.
const StreamLinkSIDPrefix = "nl_"

func nodeTopic(node string) string { return "node/" + node }

// streamLinkMessage is a receiving node's message to the holder, on the holder's topic.
type streamLinkMessage struct {
	Kind      string          `json:"kind"` // start, answer, candidate, close
	SID       string          `json:"sid"`
	From      string          `json:"from,omitempty"` // start: the receiving node
	Device    string          `json:"device,omitempty"`
	Agent     string          `json:"agent,omitempty"`
	Target    string          `json:"target,omitempty"`
	SDP       string          `json:"sdp,omitempty"`
	Candidate *wire.Candidate `json:"candidate,omitempty"`
}

// StreamLink is the receiving end of a node link: Messages are the holder's offer, candidates
// and bye; Send carries this node's answer and candidates to it. Its methods are an Uplink's.
type StreamLink struct {
	srv    *Server
	sid    string
	holder string
	msgs   chan wire.Envelope
	stop   context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// StartStreamLink asks holder (another relay node) for the machine's stream. Close ends it.
func (s *Server) StartStreamLink(ctx context.Context, holder string, t UplinkTarget) (*StreamLink, error) {
	if holder == s.node {
		return nil, errors.New("signaling: a node link to this node itself")
	}
	sid := auth.NewID(StreamLinkSIDPrefix)
	subCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	sub, err := s.cfg.Bus.Subscribe(subCtx, consoleTopic(sid))
	if err != nil {
		stop()
		return nil, fmt.Errorf("signaling: subscribe node link topic: %w", err)
	}
	l := &StreamLink{srv: s, sid: sid, holder: holder, msgs: make(chan wire.Envelope, 64), stop: stop}
	l.wg.Go(func() { readSession(subCtx, sub, sid, l.msgs) })
	agent := t.Agent
	if agent == t.Device {
		agent = ""
	}
	if err := l.publish(ctx, streamLinkMessage{Kind: "start", SID: sid, From: s.node, Device: t.Device, Agent: agent, Target: t.Target}); err != nil {
		l.Close()
		return nil, err
	}
	s.log.Info("node link started", "sid", sid, "device", t.Device, "holder", holder)
	return l, nil
}

// SID is the link's session id ("nl_…").
func (l *StreamLink) SID() string { return l.sid }

// Messages are the holder's offer, candidates and bye, closed by Close.
func (l *StreamLink) Messages() <-chan wire.Envelope { return l.msgs }

// Send delivers this node's answer or candidate to the holder.
func (l *StreamLink) Send(ctx context.Context, t wire.Type, data any) error {
	m := streamLinkMessage{SID: l.sid}
	switch d := data.(type) {
	case wire.SDP:
		m.Kind, m.SDP = "answer", d.SDP
	case wire.Candidate:
		m.Kind, m.Candidate = "candidate", &d
	default:
		return fmt.Errorf("signaling: %s on a node link", t)
	}
	return l.publish(ctx, m)
}

func (l *StreamLink) publish(ctx context.Context, m streamLinkMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := l.srv.cfg.Bus.Publish(ctx, nodeTopic(l.holder), b); err != nil {
		return fmt.Errorf("signaling: node link %s to %s: %w", m.Kind, l.holder, err)
	}
	return nil
}

// Close tells the holder the link ended and stops its subscription.
func (l *StreamLink) Close() {
	l.once.Do(func() {
		bg, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		if err := l.publish(bg, streamLinkMessage{Kind: "close", SID: l.sid}); err != nil {
			l.srv.log.Debug("node link close not sent", "sid", l.sid, "err", err)
		}
		l.stop()
		l.wg.Wait()
	})
}

// readSession decodes the messages of session sid from sub into out until ctx ends or sub is
// cut, then closes out.
func readSession(ctx context.Context, sub <-chan []byte, sid string, out chan<- wire.Envelope) {
	defer close(out)
	for {
		select {
		case <-ctx.Done():
			return
		case raw, ok := <-sub:
			if !ok {
				return
			}
			env, err := wire.Decode(raw)
			if err != nil || env.SID != sid {
				continue
			}
			select {
			case out <- env:
			case <-ctx.Done():
				return
			}
		}
	}
}

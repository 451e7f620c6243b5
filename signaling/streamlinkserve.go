package signaling

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// maxStreamLinks bounds the node links one node serves at once (a node links once per
// machine it relays; this only stops a runaway).
const maxStreamLinks = 4096

// servedLink is a node link this node serves: the relayed-viewer peer sending the stream.
type servedLink struct {
	peer ViewerPeer
	stop context.CancelFunc
}

// serveStreamLinks answers other nodes' node links (streamlink.go) until the server closes:
// each link is a relayed viewer of Viewers, holder only, whose offer and candidates go to the
// receiving node as an agent's go to an uplink.
func (s *Server) serveStreamLinks(sub <-chan []byte) {
	var (
		mu    sync.Mutex
		links = map[string]*servedLink{}
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		all := links
		links = map[string]*servedLink{}
		mu.Unlock()
		for _, l := range all {
			l.stop()
		}
		wg.Wait()
	}()
	for {
		var raw []byte
		var ok bool
		select {
		case <-s.ctx.Done():
			return
		case raw, ok = <-sub:
		}
		if !ok {
			if s.ctx.Err() != nil {
				return
			}
			// Cut off (the bus reconnected, or this node fell behind): subscribe again.
			s.log.Warn("node link subscription cut; subscribing again")
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			var err error
			if sub, err = s.cfg.Bus.Subscribe(s.ctx, nodeTopic(s.node)); err != nil {
				s.log.Error("node links not served: subscribe", "err", err)
				return
			}
			continue
		}
		var m streamLinkMessage
		if err := json.Unmarshal(raw, &m); err != nil || !strings.HasPrefix(m.SID, StreamLinkSIDPrefix) {
			continue
		}
		mu.Lock()
		l := links[m.SID]
		mu.Unlock()
		switch m.Kind {
		case "start":
			if l != nil || m.Device == "" || m.From == "" {
				continue
			}
			mu.Lock()
			full := len(links) >= maxStreamLinks
			mu.Unlock()
			if full {
				s.log.Warn("node link refused: too many", "sid", m.SID, "from", m.From)
				continue
			}
			l, err := s.startServedLink(m)
			if err != nil {
				s.log.Warn("node link not served", "sid", m.SID, "from", m.From, "device", m.Device, "err", err)
				s.sendLinkBye(m.SID, err.Error())
				continue
			}
			mu.Lock()
			links[m.SID] = l
			mu.Unlock()
			wg.Go(func() {
				// A peer that ends by itself (its connection failed, this node is not the
				// holder) is forgotten and the receiving node told.
				if d, ok := l.peer.(interface{ Done() <-chan struct{} }); ok {
					select {
					case <-d.Done():
					case <-s.ctx.Done():
					}
				} else {
					<-s.ctx.Done()
				}
				mu.Lock()
				cur := links[m.SID]
				if cur == l {
					delete(links, m.SID)
				}
				mu.Unlock()
				l.stop()
				if cur == l && s.ctx.Err() == nil {
					s.sendLinkBye(m.SID, "the holder's relayed stream ended")
				}
			})
		case "answer":
			if l != nil {
				if err := l.peer.Answer(m.SDP); err != nil {
					s.log.Debug("node link answer dropped", "sid", m.SID, "err", err)
				}
			}
		case "candidate":
			if l != nil && m.Candidate != nil {
				if err := l.peer.Candidate(*m.Candidate); err != nil {
					s.log.Debug("node link candidate dropped", "sid", m.SID, "err", err)
				}
			}
		case "close":
			if l != nil {
				mu.Lock()
				delete(links, m.SID)
				mu.Unlock()
				l.stop()
			}
		}
	}
}

// startServedLink starts the relayed-viewer peer of a node link.
func (s *Server) startServedLink(m streamLinkMessage) (*servedLink, error) {
	ctx, cancel := context.WithCancel(s.ctx)
	sid := m.SID
	send := func(ctx context.Context, t wire.Type, data any) error {
		// The holder's side speaks as to a console (video-offer, video-candidate); the
		// receiving node reads it as an agent's uplink (offer, candidate).
		switch t {
		case wire.TypeVideoOffer:
			t = wire.TypeOffer
		case wire.TypeVideoCandidate:
			t = wire.TypeCandidate
		}
		msg, err := wire.Encode(t, sid, data)
		if err != nil {
			return err
		}
		return s.cfg.Bus.Publish(ctx, consoleTopic(sid), msg)
	}
	peer, err := s.cfg.Viewers.StartViewer(ctx, RelayedViewer{SID: sid, Device: m.Device, Agent: m.Agent, Target: m.Target, ForNode: m.From}, send)
	if err != nil {
		cancel()
		return nil, err
	}
	var once sync.Once
	return &servedLink{peer: peer, stop: func() { once.Do(func() { cancel(); peer.Close() }) }}, nil
}

// sendLinkBye tells a receiving node its link ended.
func (s *Server) sendLinkBye(sid, reason string) {
	msg, err := wire.Encode(wire.TypeBye, sid, wire.Bye{Reason: reason})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	if err := s.cfg.Bus.Publish(ctx, consoleTopic(sid), msg); err != nil {
		s.log.Debug("node link bye not sent", "sid", sid, "err", err)
	}
}

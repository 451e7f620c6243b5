package signaling

import (
	"context"
	"encoding/json"
	"fmt"
)

// sessionEndTopic carries EndSessionEverywhere to every relay node sharing the bus.
const sessionEndTopic = "control/session-end"

// sessionEndNotice is the message on sessionEndTopic. Node is the sender, which has already
// ended the session locally and skips its own notice.
type sessionEndNotice struct {
	SID    string `json:"sid"`
	Reason string `json:"reason"`
	Node   string `json:"node"`
}

// EndSessionEverywhere ends console session sid at once on every relay node sharing the bus:
// whichever node holds its console tells it reason (`session-ended`: final) and closes it,
// which sends the agent a bye; and every node runs Config.OnSessionEnd for sid (the relay
// revokes the session's TURN credentials and closes its allocations there). It reports
// whether this node held the console.
//
// When Publish fails the other nodes miss the notice; their periodic session check (see
// SessionGate) ends the console within one interval, and a bus outage cuts their
// subscriptions, and with them their signaling connections, anyway.
func (s *Server) EndSessionEverywhere(ctx context.Context, sid, reason string) (bool, error) {
	here := s.endSessionLocal(sid, reason)
	msg, err := json.Marshal(sessionEndNotice{SID: sid, Reason: reason, Node: s.node})
	if err != nil {
		return here, fmt.Errorf("signaling: encode session end: %w", err)
	}
	if err := s.cfg.Bus.Publish(ctx, sessionEndTopic, msg); err != nil {
		return here, fmt.Errorf("signaling: tell other relay nodes that session %s ended: %w", sid, err)
	}
	return here, nil
}

// endSessionLocal ends session sid on this node: its TURN (OnSessionEnd) and its console.
func (s *Server) endSessionLocal(sid, reason string) bool {
	if s.cfg.OnSessionEnd != nil {
		s.cfg.OnSessionEnd(sid)
	}
	return s.EndSession(sid, reason)
}

// applySessionEnd handles another node's notice.
func (s *Server) applySessionEnd(msg []byte) {
	var n sessionEndNotice
	if err := json.Unmarshal(msg, &n); err != nil || n.SID == "" {
		s.log.Warn("ignored a malformed session end notice")
		return
	}
	if n.Node == s.node {
		return
	}
	if s.endSessionLocal(n.SID, n.Reason) {
		s.log.Info("console session ended by another node", "sid", n.SID, "reason", n.Reason)
	}
}

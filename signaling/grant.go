package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// A console's grant (view, control, admin) is what its principal's rights allow on the machine
// now. The console connects with the grant Admit derived; the node holding the connection is
// the one place that knows its current grant, and the one that tells the agent when it
// changes — found by the periodic session check on that node, or announced by the control
// plane from any node (RegrantSession) when a right changed. The agent is the authority on
// control: told a lowered grant, it takes control away and releases the held keys.

// regrantTopic carries RegrantSession to every relay node sharing the bus.
const regrantTopic = "control/regrant"

// regrantNotice is the message on regrantTopic. Node is the sender, which has already applied
// it locally and skips its own notice.
type regrantNotice struct {
	SID   string     `json:"sid"`
	Grant wire.Grant `json:"grant"`
	Node  string     `json:"node"`
}

// grantPrefix starts every grant message the relay sends an agent: wire.Encode writes the
// version, then the type. forwardToAgent never drops these.
var grantPrefix = []byte(`{"v":1,"type":"grant"`)

// grantTimeout bounds telling an agent, and the registry, of a grant that changed.
const grantTimeout = 2 * time.Second

// RegrantSession hands the grant the principal of console session sid holds now to the node
// holding its console, wherever it is: there, a grant that differs from the console's is sent
// to the session's agent (`grant`), used in the tokens the console is refreshed with, and
// recorded in the registry. A session without a connected console, or whose registry record
// already has that grant, is left alone: a console that connects later is admitted with the
// grant of that moment.
//
// When Publish fails, the node holding the console finds the new grant at its next session
// check (SessionGate.Check) anyway.
func (s *Server) RegrantSession(ctx context.Context, sid string, grant wire.Grant) error {
	if !grant.Valid() {
		return fmt.Errorf("signaling: regrant %s: unknown grant %q", sid, grant)
	}
	info, err := s.cfg.Registry.Session(ctx, sid)
	if errors.Is(err, ErrUnknownSession) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signaling: regrant %s: %w", sid, err)
	}
	if info.Grant == grant {
		return nil
	}
	s.regrantLocal(sid, grant)
	msg, err := json.Marshal(regrantNotice{SID: sid, Grant: grant, Node: s.node})
	if err != nil {
		return fmt.Errorf("signaling: encode regrant: %w", err)
	}
	if err := s.cfg.Bus.Publish(ctx, regrantTopic, msg); err != nil {
		return fmt.Errorf("signaling: tell other relay nodes that session %s's grant is %s: %w", sid, grant, err)
	}
	return nil
}

// applyRegrant handles another node's notice.
func (s *Server) applyRegrant(msg []byte) {
	var n regrantNotice
	if err := json.Unmarshal(msg, &n); err != nil || n.SID == "" || !n.Grant.Valid() {
		s.log.Warn("ignored a malformed grant change notice")
		return
	}
	if n.Node == s.node {
		return
	}
	s.regrantLocal(n.SID, n.Grant)
}

// regrantLocal applies grant to the console of sid on this node, if it holds it.
func (s *Server) regrantLocal(sid string, grant wire.Grant) {
	s.mu.Lock()
	lc := s.consoles[sid]
	s.mu.Unlock()
	if lc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, grantTimeout)
	defer cancel()
	s.applyGrant(ctx, lc, grant)
}

// currentGrant is what the console of lc may do now.
func (s *Server) currentGrant(lc *liveConn) wire.Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return lc.grant
}

// applyGrant makes grant the console's, and when that changed it, tells the session's agent
// and records it in the registry. A connection already replaced by a newer one leaves both to
// its successor.
func (s *Server) applyGrant(ctx context.Context, lc *liveConn, grant wire.Grant) {
	s.mu.Lock()
	changed := lc.grant != grant && !lc.superseded
	if changed {
		lc.grant = grant
	}
	info := lc.info
	s.mu.Unlock()
	if !changed {
		return
	}
	log := s.log.With("sid", lc.sid, "device", lc.device, "grant", grant)
	log.Info("console grant changed")
	// Recorded first: once the agent acts on the grant, every node reads the same.
	info.Grant = grant
	lc.reg.Lock()
	if !lc.gone {
		if err := s.cfg.Registry.PutSession(ctx, info); err != nil {
			log.Warn("record a console's grant", "err", err)
		}
	}
	lc.reg.Unlock()
	msg, err := wire.Encode(wire.TypeGrant, lc.sid, wire.GrantChange{Grant: grant})
	if err != nil {
		log.Error("encode grant", "err", err)
		return
	}
	if err := s.cfg.Bus.Publish(ctx, agentTopic(lc.agent), msg); err != nil {
		log.Warn("tell the agent a console's grant changed", "err", err)
	}
}

package signaling

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/contrib/websocket"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/internal/peerconn"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// serveAgent runs one agent's signaling connection: it marks the device online, delivers
// session starts and console messages to the agent, and routes the agent's offers and
// candidates to the console sessions of its own device only.
func (s *Server) serveAgent(c *websocket.Conn) {
	claims, ok := claimsOf(c)
	if !ok {
		return
	}
	device := claims.Device
	connID := auth.NewID("a_")
	log := s.log.With("peer", "agent", "device", device, "conn", connID)
	sc, done := s.accept(c, "agent", s.agents, device, &liveConn{device: device, agent: device}, log)
	defer done()
	ctx, pc := sc.ctx, sc.pc

	// Subscribe before announcing presence: once a console sees the agent online, a join it
	// sends must find the subscription in place.
	toAgent, err := s.cfg.Bus.Subscribe(ctx, agentTopic(device))
	if err != nil {
		log.Error("subscribe agent topic", "err", err)
		return
	}
	sc.wg.Go(func() { s.forwardToAgent(ctx, pc, toAgent) })
	reports := newReportBudget(nil)
	s.setPresence(ctx, log, device, connID, true)
	defer func() {
		bg, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		s.setPresence(bg, log, device, connID, false)
		if s.cfg.OnAgentGone != nil {
			s.cfg.OnAgentGone(claims, connID)
		}
	}()
	s.metrics.AgentsOnline.Inc()
	defer s.metrics.AgentsOnline.Dec()
	log.Info("agent connected", "remote", c.IP())

	for {
		raw, err := pc.Read()
		if err != nil {
			log.Info("agent disconnected", "err", closeReason(err, pc))
			return
		}
		if !s.handleAgentMessage(ctx, pc, log, claims, connID, reports, raw) {
			return
		}
	}
}

// setPresence records the agent's connection and tells the device's consoles.
func (s *Server) setPresence(ctx context.Context, log *slog.Logger, device, connID string, online bool) {
	if err := s.cfg.Registry.SetAgentOnline(ctx, device, connID, online); err != nil {
		log.Error("record agent presence", "online", online, "err", err)
	}
	still, err := s.cfg.Registry.AgentOnline(ctx, device)
	if err != nil || still != online {
		// A newer connection of the same agent already took over; it speaks for presence.
		return
	}
	if msg, err := wire.Encode(wire.TypeAgentStatus, "", wire.AgentStatus{Online: online}); err == nil {
		_ = s.cfg.Bus.Publish(ctx, presenceTopic(device), msg)
	}
}

// handleAgentMessage routes one message from an agent; false ends the connection.
func (s *Server) handleAgentMessage(ctx context.Context, pc *peerconn.Conn, log *slog.Logger, claims auth.Claims, connID string,
	reports *reportBudget, raw []byte) bool {
	device := claims.Device
	env, err := wire.Decode(raw)
	if err != nil {
		return s.refuse(pc, log, "agent", env, env.SID, err)
	}
	switch env.Type {
	case wire.TypeHello:
		var h wire.Hello
		if err := wire.DecodeData(env, &h); err != nil {
			return s.refuse(pc, log, "agent", env, "", err)
		}
		// Agent-supplied text is hostile: it is logged as a quoted value, never interpreted.
		log.Info("agent hello", "version", h.Version, "sources", h.Sources, "codecs", h.Codecs)
		s.metrics.Messages.WithLabelValues("agent", string(env.Type), "ok").Inc()
		return true
	case wire.TypeMachines:
		var m wire.Machines
		if err := wire.DecodeData(env, &m); err != nil {
			return s.refuse(pc, log, "agent", env, "", err)
		}
		if err := m.Check(); err != nil {
			return s.dropReport(log, env, err)
		}
		if s.cfg.OnMachines != nil {
			s.cfg.OnMachines(ctx, claims, connID, m)
		}
		s.metrics.Messages.WithLabelValues("agent", string(env.Type), "ok").Inc()
		return true
	case wire.TypeHeartbeat:
		var hb wire.Heartbeat
		if err := wire.DecodeData(env, &hb); err != nil {
			return s.refuse(pc, log, "agent", env, "", err)
		}
		if s.cfg.OnHeartbeat != nil {
			s.cfg.OnHeartbeat(ctx, claims, hb)
		}
		s.metrics.Messages.WithLabelValues("agent", string(env.Type), "ok").Inc()
		return true
	case wire.TypeOffer, wire.TypeCandidate, wire.TypeBye, wire.TypeConsent, wire.TypePower, wire.TypeDisplays,
		wire.TypeRoster, wire.TypeControlEvent, wire.TypeInputBurst, wire.TypeKeys:
	default:
		return s.refuse(pc, log, "agent", env, env.SID, errors.New("an agent may not send "+string(env.Type)))
	}
	info, err := s.cfg.Registry.Session(ctx, env.SID)
	if err != nil || info.AgentDevice() != device {
		// Only sessions the agent carries (its own device's, or a gateway's machines'): an
		// agent cannot reach another device's consoles, whatever session id it names
		// (SECURITY.md item 4).
		s.metrics.Messages.WithLabelValues("agent", string(env.Type), "forbidden").Inc()
		log.Warn("agent addressed a session of another device or none", "type", env.Type, "target_sid", env.SID)
		if s.cfg.OnForbidden != nil {
			s.cfg.OnForbidden(ctx, claims.Tenant, claims.Subject, env.Type, env.SID)
		}
		pc.SendError(env.SID, wire.CodeForbidden, "No such session for this device.")
		return true
	}
	switch env.Type {
	case wire.TypeOffer:
		var d wire.SDP
		if err := wire.DecodeData(env, &d); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		if err := wire.CheckSDP(d.SDP); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
	case wire.TypeCandidate:
		var cand wire.Candidate
		if err := wire.DecodeData(env, &cand); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
	case wire.TypeConsent:
		var c wire.Consent
		if err := wire.DecodeData(env, &c); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		if err := c.Check(); err != nil {
			return s.dropReport(log, env, err)
		}
		s.consentReported(ctx, log, info, c)
	case wire.TypePower:
		var p wire.Power
		if err := wire.DecodeData(env, &p); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		if err := p.Check(); err != nil {
			return s.dropReport(log, env, err)
		}
		s.powerReported(ctx, log, info, p)
	case wire.TypeDisplays:
		var d wire.Displays
		if err := wire.DecodeData(env, &d); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		if err := d.Check(); err != nil {
			return s.dropReport(log, env, err)
		}
	case wire.TypeRoster:
		// To env.SID's console only: the agent sends each participant its own copy.
		var r wire.Roster
		if err := wire.DecodeData(env, &r); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		if err := r.Check(); err != nil {
			return s.dropReport(log, env, err)
		}
	case wire.TypeControlEvent:
		var e wire.RosterEvent
		if err := wire.DecodeData(env, &e); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		return s.controlEventReported(ctx, log, claims, reports, info, env, e)
	case wire.TypeInputBurst:
		var b wire.InputBurst
		if err := wire.DecodeData(env, &b); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		return s.inputBurstReported(ctx, log, reports, info, env, b)
	case wire.TypeKeys:
		var k wire.Keys
		if err := wire.DecodeData(env, &k); err != nil {
			return s.refuse(pc, log, "agent", env, env.SID, err)
		}
		return s.keysReported(ctx, log, reports, info, env, k)
	}
	if err := s.cfg.Bus.Publish(ctx, consoleTopic(env.SID), raw); err != nil {
		log.Error("publish to console", "err", err)
		return true
	}
	s.metrics.Messages.WithLabelValues("agent", string(env.Type), "ok").Inc()
	return true
}

// dropReport drops a well-formed agent report whose content is out of bounds (an error text
// from the machine's management too long, a control character in it): the report is lost,
// not the agent's connection and every console of the device with it.
func (s *Server) dropReport(log *slog.Logger, env wire.Envelope, err error) bool {
	s.metrics.Messages.WithLabelValues("agent", string(env.Type), "refused").Inc()
	log.Warn("agent report dropped", "type", env.Type, "sid", env.SID, "err", err)
	return true
}

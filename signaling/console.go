package signaling

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/internal/peerconn"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// serveConsole runs one console's signaling connection: it announces the session, forwards the
// console's join/answer/candidates to the device's agent, and the agent's messages back.
func (s *Server) serveConsole(c *websocket.Conn) {
	claims, ok := claimsOf(c)
	if !ok {
		return
	}
	sid, device, agent := claims.Session, claims.Device, claims.AgentDevice()
	log := s.log.With("peer", "console", "sid", sid, "device", device, "principal", claims.Subject)
	if agent != device {
		log = log.With("gateway", agent)
	}
	grant := grantOf(c, claims)
	info := SessionInfo{SID: sid, Device: device, Agent: claims.Agent, Target: claims.Target, Tenant: claims.Tenant,
		Principal: claims.Subject, Grant: grant, Name: s.participantName(log, claims), Started: time.Now()}
	sc, done := s.accept(c, "console", s.consoles, sid, &liveConn{device: device, agent: agent, sid: sid, info: info, grant: grant}, log)
	defer done()
	ctx, pc, live := sc.ctx, sc.pc, sc.live
	s.metrics.SessionsOpened.Inc()
	s.metrics.Sessions.Inc()
	defer s.metrics.Sessions.Dec()

	if err := s.cfg.Registry.PutSession(ctx, info); err != nil {
		log.Error("record console session", "err", err)
		pc.SendError(sid, wire.CodeInternal, "The relay could not record this session; try again in a moment.")
		return
	}
	state := &consoleState{live: live}
	s.consoleJoined(log, info)
	// The session outlives this connection only as long as the console may reconnect with its
	// token; the record goes with the connection and comes back with the next one.
	defer func() {
		s.mu.Lock()
		superseded, ended := live.superseded, live.ended
		s.mu.Unlock()
		// Audited last: the agent and the registry hear of the end first.
		defer s.consoleLeft(log, info, leaveReason(state, superseded, ended))
		// A replaced connection leaves the session to its successor, even one that has ended
		// already: its end told the agent and the control plane.
		if superseded {
			return
		}
		bg, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		if msg, err := wire.Encode(wire.TypeBye, sid, wire.Bye{Reason: "console disconnected"}); err == nil {
			_ = s.cfg.Bus.Publish(bg, agentTopic(agent), msg)
		}
		live.reg.Lock()
		live.gone = true
		_ = s.cfg.Registry.DeleteSession(bg, sid)
		live.reg.Unlock()
		if !state.saidBye {
			s.consoleGone(log, info)
		}
	}()
	defer state.stopViewer() // before the registry forgets the session

	toConsole, err := s.cfg.Bus.Subscribe(ctx, consoleTopic(sid))
	if err != nil {
		log.Error("subscribe console topic", "err", err)
		return
	}
	presence, err := s.cfg.Bus.Subscribe(ctx, presenceTopic(agent))
	if err != nil {
		log.Error("subscribe presence topic", "err", err)
		return
	}
	budget, releaseBudget := s.budgets.acquire(sid)
	defer releaseBudget()
	state.budget = budget
	sc.wg.Go(func() { forward(ctx, pc, toConsole, presence) })
	sc.wg.Go(func() { s.refreshTokens(ctx, pc, live, claims) })
	if claims.Tenant != "" && s.cfg.Sessions != nil {
		sc.wg.Go(func() { s.watchSession(ctx, pc, live, claims, log) })
	}

	pc.SendEnvelope(wire.TypeWelcome, sid, wire.Welcome{SID: sid, Device: device, ICEServers: s.iceServers(sid), ExpiresAt: claims.ExpiresAt})
	online, err := s.cfg.Registry.AgentOnline(ctx, agent)
	if err != nil {
		log.Warn("agent presence lookup", "err", err)
	}
	pc.SendEnvelope(wire.TypeAgentStatus, sid, wire.AgentStatus{Online: online})
	log.Info("console connected", "remote", c.IP())

	for {
		raw, err := pc.Read()
		if err != nil {
			state.readErr = closeReason(err, pc)
			log.Info("console disconnected", "err", state.readErr)
			return
		}
		if !s.handleConsoleMessage(ctx, pc, log, info, state, raw) {
			if !state.saidBye {
				state.closed = "closed by the relay after a message it refused"
			}
			return
		}
	}
}

// handleConsoleMessage routes one message from a console; false ends the connection.
func (s *Server) handleConsoleMessage(ctx context.Context, pc *peerconn.Conn, log *slog.Logger, info SessionInfo, state *consoleState, raw []byte) bool {
	env, err := wire.Decode(raw)
	if err != nil {
		return s.refuse(pc, log, "console", env, info.SID, err)
	}
	if over := state.budget.spend(env.Type, s.budgets.limits, s.budgets.now()); over != "" {
		return s.overBudget(pc, info, env.Type, over)
	}
	if env.SID != info.SID {
		// A console speaks only for its own session: anything else is an attempt to reach
		// another session (SECURITY.md item 4). Refuse, log, publish nothing.
		s.metrics.Messages.WithLabelValues("console", string(env.Type), "forbidden").Inc()
		log.Warn("console addressed a session it does not hold", "type", env.Type, "target_sid", env.SID)
		if s.cfg.OnForbidden != nil {
			s.cfg.OnForbidden(ctx, info.Tenant, info.Principal, env.Type, env.SID)
		}
		pc.SendError(info.SID, wire.CodeForbidden, "This console may only signal its own session.")
		return true
	}
	grant := s.currentGrant(state.live)
	if msg := grantRefusal(grant, env.Type, ""); msg != "" {
		return s.forbid(ctx, pc, log, info, grant, env.Type, msg)
	}
	var out []byte
	switch env.Type {
	case wire.TypeControl:
		var mv wire.Control
		if err := wire.DecodeData(env, &mv); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if err := mv.Check(); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if msg := grantRefusal(grant, env.Type, mv.Action); msg != "" {
			return s.forbid(ctx, pc, log, info, grant, env.Type, msg)
		}
		// The agent decides whether the move stands (is the sender in control, is the session
		// it names a participant); the relay vouches for who sends it (the envelope's sid).
		out, err = canonical(env)
	case wire.TypeJoin:
		var j wire.Join
		if err := wire.DecodeData(env, &j); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		// Pub/sub keeps nothing for a subscriber that is not there yet: a join for an agent
		// that is not (yet) connected would vanish. Say so instead; the console joins again
		// when agent-status reports the agent online.
		if online, err := s.cfg.Registry.AgentOnline(ctx, info.AgentDevice()); err != nil || !online {
			s.metrics.Messages.WithLabelValues("console", string(env.Type), "agent-offline").Inc()
			pc.SendError(info.SID, wire.CodeAgentOffline, "The device's agent is not connected; the console will connect as soon as it is.")
			return true
		}
		relayed := s.relayedVideo(state.live, j.Codecs)
		var video *bool
		if s.cfg.Viewers != nil {
			video = wire.Bool(!relayed)
		}
		if err := s.startRelayedViewer(ctx, log, info, state, j.ForceRelay, relayed); err != nil {
			log.Error("start relayed video", "err", err)
			pc.SendError(info.SID, wire.CodeInternal, "The relay could not start this console's video; the console will retry.")
			return true
		}
		out, err = wire.Encode(wire.TypeSessionStart, info.SID, wire.SessionStart{
			ICEServers:   s.iceServers(info.SID),
			Codecs:       j.Codecs,
			H264Profiles: j.H264Profiles[:min(len(j.H264Profiles), wire.MaxH264Profiles)],
			ForceRelay:   j.ForceRelay,
			Principal:    info.Principal,
			Target:       info.Target,
			Grant:        grant,
			Name:         info.Name,
			Video:        video,
			CaptureKeys:  s.capturesKeys(ctx, log, info),
		})
	case wire.TypeAnswer:
		var d wire.SDP
		if err := wire.DecodeData(env, &d); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if err := wire.CheckSDP(d.SDP); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		out, err = canonical(env)
	case wire.TypeCandidate:
		var cand wire.Candidate
		if err := wire.DecodeData(env, &cand); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		out, err = canonical(env)
	case wire.TypeVideoAnswer, wire.TypeVideoCandidate:
		// For the relay's own video peer connection: nothing goes to the agent.
		return s.handleViewerMessage(pc, log, info, state, env)
	case wire.TypeConsentCode:
		var code wire.ConsentCode
		if err := wire.DecodeData(env, &code); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if err := code.Check(); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		s.consentCodeEntered(ctx, log, info, code.Cancel)
		out, err = canonical(env)
	case wire.TypePowerAction:
		var action wire.PowerAction
		if err := wire.DecodeData(env, &action); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if err := action.Check(); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		// The relay names the action, so the agent's report of its outcome can be audited
		// against it.
		action.ID = auth.NewID("p_")
		s.powerAction(ctx, log, info, action)
		out, err = wire.Encode(wire.TypePowerAction, info.SID, action)
	case wire.TypeDisplay:
		var d wire.DisplaySelect
		if err := wire.DecodeData(env, &d); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		if err := d.Check(); err != nil {
			return s.refuse(pc, log, "console", env, info.SID, err)
		}
		log.Info("display selected", "sid", info.SID, "display", d.Index, "principal", info.Principal)
		out, err = canonical(env)
	case wire.TypeBye:
		// The person pressed Disconnect: the session ends now, not after the reconnect grace.
		state.saidBye = true
		s.consoleClosed(ctx, log, info)
		out, err = canonical(env)
	default:
		return s.refuse(pc, log, "console", env, info.SID, errors.New("a console may not send "+string(env.Type)))
	}
	if err != nil {
		log.Error("encode for agent", "err", err)
		return true
	}
	if err := s.cfg.Bus.Publish(ctx, agentTopic(info.AgentDevice()), out); err != nil {
		log.Error("publish to agent", "err", err)
		pc.SendError(info.SID, wire.CodeInternal, "The relay could not reach the agent; the console will retry.")
		return true
	}
	s.metrics.Messages.WithLabelValues("console", string(env.Type), "ok").Inc()
	return env.Type != wire.TypeBye
}

// canonical is a console's message as the relay forwards it: re-encoded in the relay's own
// envelope, so its bytes say its real type first (a console cannot send the agent bytes that
// look like a relay message, duplicate JSON keys and all: see forwardToAgent).
func canonical(env wire.Envelope) ([]byte, error) {
	return wire.Encode(env.Type, env.SID, env.Data)
}

// refuse answers a bad message with an error. Malformed JSON ends the connection (the peer
// is broken or hostile); a well-formed but unacceptable message does not.
func (s *Server) refuse(pc *peerconn.Conn, log *slog.Logger, peer string, env wire.Envelope, sid string, err error) bool {
	s.metrics.Messages.WithLabelValues(peer, string(typeLabel(env.Type)), "refused").Inc()
	log.Warn("signaling message refused", "type", env.Type, "err", err)
	switch {
	case errors.Is(err, wire.ErrUnsupportedVersion):
		pc.SendError(sid, wire.CodeUnsupportedVersion, "This relay speaks signaling version 1; reload the console to update it.")
		return false
	case errors.Is(err, wire.ErrBadSDP):
		pc.SendError(sid, wire.CodeBadMessage, "The session description was refused: it must carry exactly one DTLS fingerprint.")
		return true
	case errors.Is(err, wire.ErrUnknownType), errors.Is(err, wire.ErrBadMessage):
		pc.SendError(sid, wire.CodeBadMessage, "Malformed signaling message; the connection is closed.")
		return false
	default:
		pc.SendError(sid, wire.CodeBadMessage, "Message refused.")
		return true
	}
}

// typeLabel keeps metric label values to the known set.
func typeLabel(t wire.Type) wire.Type {
	if t.Known() {
		return t
	}
	return "unknown"
}

// forward copies bus messages to the peer until ctx ends or a subscription closes.
func forward(ctx context.Context, pc *peerconn.Conn, subs ...<-chan []byte) {
	merged := make(chan []byte)
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Go(func() {
			for msg := range sub {
				select {
				case merged <- msg:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(merged) }()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-merged:
			if !ok {
				// A subscription was cut (slow subscriber or bus failure): end the connection so the
				// peer reconnects with a clean state rather than missing messages silently.
				pc.Close(peerconn.ErrSubscriptionCut)
				return
			}
			if !pc.Send(msg) {
				return
			}
		}
	}
}

// watchSession re-checks the session while the console is connected, so a stop decided on
// another node (or anything the store knows and this node missed) ends the connection within
// one interval, and a grant changed meanwhile reaches the agent.
func (s *Server) watchSession(ctx context.Context, pc *peerconn.Conn, live *liveConn, claims auth.Claims, log *slog.Logger) {
	t := time.NewTicker(s.cfg.SessionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		grant, err := s.cfg.Sessions.Check(ctx, claims)
		if ctx.Err() != nil {
			continue
		}
		if err == nil {
			if grant.Valid() {
				s.applyGrant(ctx, live, grant)
			}
			continue
		}
		if !errors.Is(err, ErrSessionOver) {
			log.Warn("console session check failed; keeping the connection until the next check", "err", err)
			continue
		}
		log.Info("console session ended", "err", err)
		s.mu.Lock()
		live.ended = "its session check found it over"
		s.mu.Unlock()
		pc.SendError(claims.Session, wire.CodeSessionEnded, sessionEndedMessage("", claims.Subject))
		live.cancel()
		return
	}
}

// refreshTokens sends the console a fresh token at half of each token's life, so it can
// reconnect after a network change however long the session lasts.
func (s *Server) refreshTokens(ctx context.Context, pc *peerconn.Conn, live *liveConn, claims auth.Claims) {
	exp := claims.ExpiresAt
	for {
		wait := time.Until(exp) / 2
		if wait < time.Second {
			wait = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		next := claims
		next.ID = ""
		next.Grant = s.currentGrant(live) // a grant changed since is the one to reconnect with
		tok, minted, err := s.cfg.Issuer.Mint(next, s.cfg.ConsoleTokenTTL)
		if err != nil {
			s.log.Error("refresh console token", "sid", claims.Session, "err", err)
			return
		}
		pc.SendEnvelope(wire.TypeToken, claims.Session, wire.TokenRefresh{Token: tok, ExpiresAt: minted.ExpiresAt})
		exp = minted.ExpiresAt
	}
}

func (s *Server) iceServers(user string) []wire.ICEServer {
	if s.cfg.ICE == nil {
		return []wire.ICEServer{}
	}
	return s.cfg.ICE.ICEServers(user)
}

// closeReason describes why a connection ended, for logs.
func closeReason(err error, pc *peerconn.Conn) string {
	if cause := pc.Cause(); cause != nil && !errors.Is(cause, err) {
		return cause.Error()
	}
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
		return "closed by peer"
	}
	return err.Error()
}

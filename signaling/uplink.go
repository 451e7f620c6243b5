package signaling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// UplinkPrincipal is the principal of the relay's own sessions, in the agent's logs.
const UplinkPrincipal = "relay"

// UplinkTarget names the machine an uplink receives: its device, and for a machine a gateway
// serves, the gateway's device (Agent) and the machine's address on it (Target).
type UplinkTarget struct {
	Device, Agent, Target string
	// Codecs the relay forwards, preferred first (mime types, as a console's join lists them).
	Codecs []string
}

// Uplink is the relay's own session with a device's agent: the relay's receive-only peer
// connection for the device's video (session-start with uplink:true). It travels the bus
// like a console's session, so the agent's offer and candidates reach it on whichever node
// holds it, through the same checks (the agent may only address sessions of its device).
type Uplink struct {
	srv  *Server
	info SessionInfo
	msgs chan wire.Envelope
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once
}

// StartUplink records an uplink session for the machine, subscribes to its messages and asks
// the agent for it. The agent must be connected (its bus subscription receives the start).
// Close ends it.
func (s *Server) StartUplink(ctx context.Context, t UplinkTarget) (*Uplink, error) {
	info := SessionInfo{SID: auth.NewID(wire.UplinkSIDPrefix), Device: t.Device, Agent: t.Agent, Target: t.Target,
		Principal: UplinkPrincipal, Name: UplinkPrincipal, Started: time.Now()}
	if info.Agent == info.Device {
		info.Agent = ""
	}
	online, err := s.cfg.Registry.AgentOnline(ctx, info.AgentDevice())
	if err != nil {
		return nil, fmt.Errorf("signaling: uplink for %s: agent presence: %w", t.Device, err)
	}
	if !online {
		return nil, fmt.Errorf("signaling: uplink for %s: %w", t.Device, ErrAgentOffline)
	}
	if err := s.cfg.Registry.PutSession(ctx, info); err != nil {
		return nil, fmt.Errorf("signaling: record uplink session: %w", err)
	}
	// The subscription outlives the caller's ctx (which only bounds the start): Close ends it.
	subCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	sub, err := s.cfg.Bus.Subscribe(subCtx, consoleTopic(info.SID))
	if err != nil {
		stop()
		return nil, errors.Join(fmt.Errorf("signaling: subscribe uplink topic: %w", err), s.cfg.Registry.DeleteSession(context.WithoutCancel(ctx), info.SID))
	}
	u := &Uplink{srv: s, info: info, msgs: make(chan wire.Envelope, 64), stop: stop}
	u.wg.Go(func() { u.read(subCtx, sub) })
	start := wire.SessionStart{ICEServers: s.iceServers(info.SID), Codecs: t.Codecs, Principal: UplinkPrincipal,
		Target: info.Target, Name: UplinkPrincipal, Uplink: true}
	if err := u.Send(ctx, wire.TypeSessionStart, start); err != nil {
		u.Close()
		return nil, err
	}
	s.log.Info("uplink started", "sid", info.SID, "device", info.Device)
	return u, nil
}

// ErrAgentOffline is returned for an uplink to a device whose agent is not connected.
var ErrAgentOffline = errors.New("the device's agent is not connected")

// SID is the uplink's session id ("up_…").
func (u *Uplink) SID() string { return u.info.SID }

// Messages are the agent's messages to the uplink (offer, candidate, bye), closed by Close or
// when the bus subscription is cut.
func (u *Uplink) Messages() <-chan wire.Envelope { return u.msgs }

// Send delivers a message (answer, candidate) to the agent under the uplink's sid.
func (u *Uplink) Send(ctx context.Context, t wire.Type, data any) error {
	msg, err := wire.Encode(t, u.info.SID, data)
	if err != nil {
		return err
	}
	if err := u.srv.cfg.Bus.Publish(ctx, agentTopic(u.info.AgentDevice()), msg); err != nil {
		return fmt.Errorf("signaling: uplink %s to agent: %w", t, err)
	}
	return nil
}

// Close tells the agent the uplink ended and forgets it.
func (u *Uplink) Close() {
	u.once.Do(func() {
		bg, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		if err := u.Send(bg, wire.TypeBye, wire.Bye{Reason: "relay uplink closed"}); err != nil {
			u.srv.log.Debug("uplink bye not sent", "sid", u.info.SID, "err", err)
		}
		if err := u.srv.cfg.Registry.DeleteSession(bg, u.info.SID); err != nil {
			u.srv.log.Warn("forget uplink session", "sid", u.info.SID, "err", err)
		}
		u.stop()
		u.wg.Wait()
	})
}

// read decodes the agent's messages; the relay's own checks ran before they were published.
func (u *Uplink) read(ctx context.Context, sub <-chan []byte) {
	readSession(ctx, sub, u.info.SID, u.msgs)
}

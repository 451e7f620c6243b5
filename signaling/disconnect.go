package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
	"time"
)

// disconnectTopic carries DisconnectDevice to every relay node sharing the bus.
const disconnectTopic = "control/disconnect"

// disconnectNotice is the message on disconnectTopic.
type disconnectNotice struct {
	Device string `json:"device"`
	Reason string `json:"reason"`
}

// DisconnectDevice ends, at once and on every relay node sharing the bus, the agent
// connection of device and every console connection to it (a gateway's: to every machine it
// serves). The agent is told why (an error
// `unauthorized`) and the consoles that their session ended (`session-ended`: final, they do
// not reconnect). It returns how many connections this node closed.
//
// Other nodes hear of it over the bus. When Publish fails (Redis down) the notice is lost, but
// a bus outage also closes every subscription, and with it every signaling connection on the
// nodes that lost Redis, so the agent must reconnect and authenticate again anyway: whatever
// made the caller disconnect it (a revocation) is then in force.
func (s *Server) DisconnectDevice(ctx context.Context, device, reason string) (int, error) {
	n := s.disconnectLocal(device, reason)
	msg, err := json.Marshal(disconnectNotice{Device: device, Reason: reason})
	if err != nil {
		return n, fmt.Errorf("signaling: encode disconnect notice: %w", err)
	}
	if err := s.cfg.Bus.Publish(ctx, disconnectTopic, msg); err != nil {
		return n, fmt.Errorf("signaling: tell other relay nodes to disconnect device %s: %w", device, err)
	}
	return n, nil
}

// disconnectLocal closes this node's connections of device.
func (s *Server) disconnectLocal(device, reason string) int {
	s.mu.Lock()
	var victims []*liveConn
	if a := s.agents[device]; a != nil {
		victims = append(victims, a)
	}
	for _, c := range s.consoles {
		if c.device == device || c.agent == device {
			c.ended = reason
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, v := range victims {
		if v.sid == "" {
			v.pc.SendError("", wire.CodeUnauthorized, "The relay disconnected this device: "+reason+".")
		} else {
			if s.cfg.OnSessionEnd != nil {
				s.cfg.OnSessionEnd(v.sid) // its TURN too, for sessions without a stored end
			}
			v.pc.SendError(v.sid, wire.CodeSessionEnded, sessionEndedMessage(reason, v.info.Principal))
		}
		v.cancel() // the writer sends the queued error and a close frame, then closes
	}
	if len(victims) > 0 {
		s.log.Info("device disconnected", "device", device, "reason", reason, "connections", len(victims))
	}
	return len(victims)
}

// Resubscription backoff of watchControl.
const (
	disconnectRetryMin = 100 * time.Millisecond
	disconnectRetryMax = 5 * time.Second
)

// watchDisconnects applies other nodes' DisconnectDevice notices on this node.
func (s *Server) watchDisconnects() {
	s.watchControl(disconnectTopic, "device disconnects", func(msg []byte) {
		var n disconnectNotice
		if err := json.Unmarshal(msg, &n); err != nil || n.Device == "" {
			s.log.Warn("ignored a malformed disconnect notice")
			return
		}
		s.disconnectLocal(n.Device, n.Reason)
	})
}

// watchControl hands every message on a control topic (what names it in logs) to handle
// until the server closes (or its bus does). A subscription cut by a bus failure is renewed.
func (s *Server) watchControl(topic, what string, handle func([]byte)) {
	wait := disconnectRetryMin
	failing := false
	for {
		sub, err := s.cfg.Bus.Subscribe(s.ctx, topic)
		switch {
		case errors.Is(err, ErrBusClosed) || s.ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				s.log.Warn("cannot subscribe to "+what+"; retrying", "err", err)
			}
			failing = true
		default:
			if failing {
				s.log.Info("subscribed to " + what + " again")
			}
			failing, wait = false, disconnectRetryMin
			for msg := range sub {
				handle(msg)
			}
		}
		if s.ctx.Err() != nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, disconnectRetryMax)
	}
}

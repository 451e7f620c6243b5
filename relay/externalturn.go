package relay

import (
	"errors"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
	"github.com/kvmrelay/kvmrelay/turn"
)

// ExternalTURN points consoles and agents at TURN servers the relay does not run — a coturn
// fleet configured with `use-auth-secret` and `static-auth-secret=<Secret>` — and mints the
// same time-limited REST credentials for them that the embedded server accepts.
type ExternalTURN struct {
	// URLs are handed out as they are, e.g. "turn:turn.example.com:3478?transport=udp",
	// "turns:turn.example.com:443?transport=tcp", "stun:turn.example.com:3478".
	URLs []string
	// Secret is coturn's static-auth-secret.
	Secret []byte
}

func (e *ExternalTURN) validate() error {
	if len(e.URLs) == 0 {
		return errors.New("relay: external TURN needs at least one URL")
	}
	if len(e.Secret) < turn.MinSecretLen {
		return errors.New("relay: external TURN secret must be at least 16 characters (coturn's static-auth-secret)")
	}
	for _, u := range e.URLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") && !strings.HasPrefix(u, "stun:") {
			return errors.New("relay: external TURN URL " + u + " must start with turn:, turns: or stun:")
		}
	}
	return nil
}

// externalICE implements signaling.ICEProvider for ExternalTURN.
type externalICE struct {
	cfg ExternalTURN
	ttl time.Duration
	now func() time.Time
}

func (x externalICE) ICEServers(user string) []wire.ICEServer {
	var stun, relays []string
	for _, u := range x.cfg.URLs {
		if strings.HasPrefix(u, "stun:") {
			stun = append(stun, u)
		} else {
			relays = append(relays, u)
		}
	}
	out := []wire.ICEServer{}
	if len(stun) > 0 {
		out = append(out, wire.ICEServer{URLs: stun})
	}
	username, password := turn.MintCredentials(x.cfg.Secret, user, x.now().Add(x.ttl))
	if len(relays) > 0 && username != "" {
		out = append(out, wire.ICEServer{URLs: relays, Username: username, Credential: password})
	}
	return out
}

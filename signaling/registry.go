package signaling

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ErrUnknownSession is returned for a session id the registry does not hold.
var ErrUnknownSession = errors.New("unknown console session")

// SessionInfo is what the relay knows of one console session.
type SessionInfo struct {
	SID    string
	Device string
	// Agent is the device whose agent serves Device when that is a gateway (Intel AMT behind
	// MPS), and Target the machine's address on it; both empty for a device's own agent.
	Agent     string
	Target    string
	Tenant    string
	Principal string
	// Grant is what the console may do on its machine (view, control, admin) as its node last
	// knew it: admitted with it, updated when it changed.
	Grant wire.Grant
	// Name is the principal as the other participants of the machine see it, cleaned.
	Name    string
	Started time.Time
}

// AgentDevice is the device whose agent carries the session: the gateway, or Device itself.
func (i SessionInfo) AgentDevice() string {
	if i.Agent != "" {
		return i.Agent
	}
	return i.Device
}

// Registry records console sessions and which devices have an agent connected. The in-memory
// registry serves one relay; the control plane's store replaces it across nodes.
type Registry interface {
	PutSession(ctx context.Context, s SessionInfo) error
	Session(ctx context.Context, sid string) (SessionInfo, error)
	DeleteSession(ctx context.Context, sid string) error
	// SetAgentOnline records (online) or clears the agent connection of a device; conn tells
	// connections apart so a stale disconnect does not clear a newer connection.
	SetAgentOnline(ctx context.Context, device, conn string, online bool) error
	AgentOnline(ctx context.Context, device string) (bool, error)
}

// MemoryRegistry is the in-process Registry.
type MemoryRegistry struct {
	mu       sync.Mutex
	sessions map[string]SessionInfo
	agents   map[string]string // device → connection id
	leases   map[string]memoryLease
}

// NewMemoryRegistry makes an empty registry.
func NewMemoryRegistry() *MemoryRegistry {
	return &MemoryRegistry{sessions: make(map[string]SessionInfo), agents: make(map[string]string), leases: make(map[string]memoryLease)}
}

// PutSession implements Registry.
func (r *MemoryRegistry) PutSession(_ context.Context, s SessionInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions[s.SID] = s
	return nil
}

// Session implements Registry.
func (r *MemoryRegistry) Session(_ context.Context, sid string) (SessionInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sessions[sid]
	if !ok {
		return SessionInfo{}, ErrUnknownSession
	}
	return s, nil
}

// DeleteSession implements Registry.
func (r *MemoryRegistry) DeleteSession(_ context.Context, sid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sessions, sid)
	return nil
}

// SetAgentOnline implements Registry.
func (r *MemoryRegistry) SetAgentOnline(_ context.Context, device, conn string, online bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if online {
		r.agents[device] = conn
	} else if r.agents[device] == conn {
		delete(r.agents, device)
	}
	return nil
}

// AgentOnline implements Registry.
func (r *MemoryRegistry) AgentOnline(_ context.Context, device string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.agents[device]
	return ok, nil
}

// ActiveSessions counts sessions (for metrics).
func (r *MemoryRegistry) ActiveSessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Registry is a signaling.Registry in Redis, shared by every relay node using the same Redis
// and key prefix.
//
// A session is a hash "<prefix>session:<sid>" and an agent's presence a string
// "<prefix>agent:<device>" holding its connection id, both with a TTL. The Registry remembers
// what this node wrote and refreshes it every TTL/3 (Refresh, run by a goroutine Close stops),
// rewriting records that vanished, so they live exactly as long as the node that holds the
// connection: a node that dies leaves nothing behind for longer than TTL, and a Redis that
// restarted empty is refilled within TTL/3.
type Registry struct {
	cfg    Config
	log    *slog.Logger
	client *redis.Client
	owner  string // this Registry's id, stored in the sessions it writes

	// opMu keeps a refresh from rewriting a record that a concurrent delete removes: deletes
	// hold it shared, Refresh exclusively.
	opMu     sync.RWMutex
	mu       sync.Mutex
	sessions map[string]signaling.SessionInfo // written here and not deleted
	agents   map[string]string                // device → connection id set online here

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ signaling.Registry = (*Registry)(nil)

// NewRegistry makes a Registry with its own Redis client and starts its refresh; Close stops
// both.
func NewRegistry(cfg Config) (*Registry, error) {
	cfg, opts, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		cfg: cfg, log: cfg.Logger.With("component", "redisbus.registry"), client: redis.NewClient(opts),
		owner:    auth.NewID("n_"),
		sessions: make(map[string]signaling.SessionInfo),
		agents:   make(map[string]string),
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() { r.keepAlive(ctx) })
	return r, nil
}

func (r *Registry) sessionKey(sid string) string  { return r.cfg.KeyPrefix + "session:" + sid }
func (r *Registry) agentKey(device string) string { return r.cfg.KeyPrefix + "agent:" + device }

// sessionFields is the hash of a session, owner included.
func (r *Registry) sessionFields(s signaling.SessionInfo) []any {
	return []any{
		"sid", s.SID, "device", s.Device, "agent", s.Agent, "target", s.Target, "tenant", s.Tenant, "principal", s.Principal,
		"grant", string(s.Grant), "name", s.Name, "started", s.Started.UTC().Format(time.RFC3339Nano), "owner", r.owner,
	}
}

func (r *Registry) ttlMillis() string { return strconv.FormatInt(r.cfg.TTL.Milliseconds(), 10) }

// PutSession implements signaling.Registry.
func (r *Registry) PutSession(ctx context.Context, s signaling.SessionInfo) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	key := r.sessionKey(s.SID)
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key) // no field of an older record survives
		p.HSet(ctx, key, r.sessionFields(s)...)
		p.PExpire(ctx, key, r.cfg.TTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisbus: put session %s: %w", s.SID, err)
	}
	r.mu.Lock()
	r.sessions[s.SID] = s
	r.mu.Unlock()
	return nil
}

// Session implements signaling.Registry.
func (r *Registry) Session(ctx context.Context, sid string) (signaling.SessionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	h, err := r.client.HGetAll(ctx, r.sessionKey(sid)).Result()
	if err != nil {
		return signaling.SessionInfo{}, fmt.Errorf("redisbus: get session %s: %w", sid, err)
	}
	if len(h) == 0 {
		return signaling.SessionInfo{}, signaling.ErrUnknownSession
	}
	started, err := time.Parse(time.RFC3339Nano, h["started"])
	if err != nil {
		return signaling.SessionInfo{}, fmt.Errorf("redisbus: session %s: bad start time: %w", sid, err)
	}
	return signaling.SessionInfo{SID: h["sid"], Device: h["device"], Agent: h["agent"], Target: h["target"], Tenant: h["tenant"],
		Principal: h["principal"], Grant: wire.Grant(h["grant"]), Name: h["name"], Started: started}, nil
}

// DeleteSession implements signaling.Registry. It deletes the record only if this node wrote
// it: a console that reconnected through another node keeps the record that node wrote.
func (r *Registry) DeleteSession(ctx context.Context, sid string) error {
	r.opMu.RLock()
	defer r.opMu.RUnlock()
	r.mu.Lock()
	delete(r.sessions, sid)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	if err := deleteIfOwner.Run(ctx, r.client, []string{r.sessionKey(sid)}, r.owner).Err(); err != nil {
		return fmt.Errorf("redisbus: delete session %s: %w", sid, err)
	}
	return nil
}

// SetAgentOnline implements signaling.Registry. Going offline deletes the presence only if it
// still holds conn (atomically, in a script).
func (r *Registry) SetAgentOnline(ctx context.Context, device, conn string, online bool) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	key := r.agentKey(device)
	if online {
		if err := r.client.Set(ctx, key, conn, r.cfg.TTL).Err(); err != nil {
			return fmt.Errorf("redisbus: set agent %s online: %w", device, err)
		}
		r.mu.Lock()
		r.agents[device] = conn
		r.mu.Unlock()
		return nil
	}
	r.opMu.RLock()
	defer r.opMu.RUnlock()
	r.mu.Lock()
	if r.agents[device] == conn {
		delete(r.agents, device)
	}
	r.mu.Unlock()
	if err := deleteIfEqual.Run(ctx, r.client, []string{key}, conn).Err(); err != nil {
		return fmt.Errorf("redisbus: set agent %s offline: %w", device, err)
	}
	return nil
}

// AgentOnline implements signaling.Registry.
func (r *Registry) AgentOnline(ctx context.Context, device string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	n, err := r.client.Exists(ctx, r.agentKey(device)).Result()
	if err != nil {
		return false, fmt.Errorf("redisbus: agent %s presence: %w", device, err)
	}
	return n == 1, nil
}

// Refresh extends the TTL of every record this node holds, rewriting those that are gone. The
// Registry runs it every TTL/3; it is exported for tests and for callers that want to refresh
// at once (after Redis came back, say).
func (r *Registry) Refresh(ctx context.Context) error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	sessions := make([]signaling.SessionInfo, 0, len(r.sessions))
	for _, s := range r.sessions {
		sessions = append(sessions, s)
	}
	agents := make(map[string]string, len(r.agents))
	for d, c := range r.agents {
		agents[d] = c
	}
	r.mu.Unlock()
	if len(sessions) == 0 && len(agents) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	ttl := r.ttlMillis()
	// EVAL, not EVALSHA: in a pipeline go-redis cannot fall back when a restarted Redis has
	// forgotten the script.
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range sessions {
			refreshSession.Eval(ctx, p, []string{r.sessionKey(s.SID)}, append([]any{ttl}, r.sessionFields(s)...)...)
		}
		for d, c := range agents {
			refreshPresence.Eval(ctx, p, []string{r.agentKey(d)}, c, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisbus: refresh %d sessions and %d agents: %w", len(sessions), len(agents), err)
	}
	return nil
}

// keepAlive runs Refresh every TTL/3 until ctx ends.
func (r *Registry) keepAlive(ctx context.Context) {
	tick := time.NewTicker(max(r.cfg.TTL/3, time.Millisecond))
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := r.Refresh(ctx)
		switch {
		case err != nil && !failing && !errors.Is(err, context.Canceled):
			r.log.Warn("refresh of sessions and presence failed; they expire unless a later refresh succeeds", "err", err)
			failing = true
		case err == nil && failing:
			r.log.Info("refresh of sessions and presence works again")
			failing = false
		}
	}
}

// Close stops the refresh and closes the Redis client. The records this node wrote stay until
// deleted or expired.
func (r *Registry) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		if cerr := r.client.Close(); cerr != nil {
			err = fmt.Errorf("redisbus: close registry client: %w", cerr)
		}
	})
	return err
}

package relay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/redisbus"
)

// sharedState is the signaling bus and session registry of a relay: in-process for one relay,
// in Redis (signaling/redisbus) when Config.RedisURL is set, so that several relay nodes behind
// a load balancer reach each other's consoles and agents.
type sharedState struct {
	bus      signaling.Bus
	registry signaling.Registry
	closers  []func() error
	health   *redisHealth // nil without Redis
}

// redisStartTimeout bounds the check at start that Redis answers.
const redisStartTimeout = 10 * time.Second

// openSharedState builds the bus and registry. With Redis it fails when the URL is bad or Redis
// does not answer now; once started, the bus and registry reconnect by themselves whenever Redis
// goes away and comes back.
func openSharedState(ctx context.Context, cfg Config) (*sharedState, error) {
	if cfg.RedisURL == "" {
		bus := signaling.NewMemoryBus()
		return &sharedState{bus: bus, registry: signaling.NewMemoryRegistry(), closers: []func() error{bus.Close}}, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("relay: --redis-url: %w", redactURLError(err))
	}
	ctx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	bus, reg, err := redisbus.New(ctx, redisbus.Config{URL: cfg.RedisURL, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("relay: --redis-url: %w", err)
	}
	health := newRedisHealth(opts)
	cfg.Logger.Info("signaling bus and registry in Redis", "addr", opts.Addr, "db", opts.DB)
	return &sharedState{
		bus: bus, registry: reg, health: health,
		closers: []func() error{bus.Close, reg.Close, health.close},
	}, nil
}

// redactURLError drops the URL (and so any password in it) from a URL parse error.
func redactURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// Close closes the bus (ending its subscriptions), the registry and the health client.
func (s *sharedState) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// healthDetail is what /healthz reports about the shared state.
func (s *sharedState) healthDetail(ctx context.Context) map[string]string {
	if s.health == nil {
		return map[string]string{"bus": "memory"}
	}
	return map[string]string{"bus": "redis", "redis": s.health.status(ctx)}
}

// redisHealth answers "does Redis answer?" for /healthz with one PING at most every
// healthCacheFor, whatever the request rate, over its own single connection.
type redisHealth struct {
	client *redis.Client

	mu      sync.Mutex
	checked time.Time
	last    string
}

const (
	healthCacheFor = 2 * time.Second
	healthTimeout  = time.Second
)

func newRedisHealth(opts *redis.Options) *redisHealth {
	o := *opts
	o.PoolSize, o.MinIdleConns, o.MaxRetries = 1, 0, -1
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = healthTimeout, healthTimeout, healthTimeout
	return &redisHealth{client: redis.NewClient(&o)}
}

// status is "ok" or "unreachable"; the reason stays in the relay's own logs (bus, registry).
func (h *redisHealth) status(ctx context.Context) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != "" && time.Since(h.checked) < healthCacheFor {
		return h.last
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h.last = "ok"
	if err := h.client.Ping(ctx).Err(); err != nil {
		h.last = "unreachable"
	}
	h.checked = time.Now()
	return h.last
}

func (h *redisHealth) close() error {
	if err := h.client.Close(); err != nil {
		return fmt.Errorf("relay: close redis health client: %w", err)
	}
	return nil
}

// health is the /healthz body: always status "ok" while the process serves (it is a liveness
// check: every node shares one Redis, so taking nodes out of a load balancer for a Redis outage
// would take out all of them), plus which bus the relay uses and whether Redis answers.
func (r *Relay) health(ctx context.Context) map[string]string {
	out := r.shared.healthDetail(ctx)
	out["status"] = "ok"
	return out
}

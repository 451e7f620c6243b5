package enroll

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
)

// Client carries renewal requests to the relay (the HTTP client comes later). Challenge
// fetches a fresh single-use nonce; Renew sends a CSR with a proof, signed by the current
// key over that nonce and the CSR, and returns the new certificate. Over mTLS the relay may
// rely on the handshake instead, but the proof is always sent.
type Client interface {
	Challenge(ctx context.Context) (keyproof.Challenge, error)
	Renew(ctx context.Context, csrPEM []byte, proof keyproof.Proof) (certPEM []byte, err error)
}

// RenewerConfig configures a Renewer. Identity and Client are required.
type RenewerConfig struct {
	Identity *Identity
	Client   Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// After is the timer; nil means time.After. Tests inject one to drive the schedule.
	After func(time.Duration) <-chan time.Time
	// Jitter returns a duration in [0, max); nil means uniformly random. It spreads a fleet
	// enrolled at once so it does not renew at once.
	Jitter func(max time.Duration) time.Duration
	// MinRetry and MaxRetry bound the exponential backoff after a failure; 0 means
	// 10 seconds and 10 minutes.
	MinRetry, MaxRetry time.Duration
	// AttemptTimeout bounds one renewal; 0 means one minute.
	AttemptTimeout time.Duration
	// OnError sees every failed attempt (for logs and metrics); nil ignores them.
	OnError func(error)
}

// Renewer keeps an Identity's certificate fresh from one goroutine it owns.
type Renewer struct {
	cfg RenewerConfig

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewRenewer checks the config and fills defaults.
func NewRenewer(cfg RenewerConfig) (*Renewer, error) {
	if cfg.Identity == nil || cfg.Client == nil {
		return nil, errors.New("enroll: renewer needs an identity and a client")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	if cfg.MinRetry <= 0 {
		cfg.MinRetry = 10 * time.Second
	}
	if cfg.MaxRetry < cfg.MinRetry {
		cfg.MaxRetry = max(10*time.Minute, cfg.MinRetry)
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = time.Minute
	}
	if cfg.OnError == nil {
		cfg.OnError = func(error) {}
	}
	return &Renewer{cfg: cfg}, nil
}

// Start runs Run in the Renewer's own goroutine until Stop or ctx ends. Starting twice is
// a no-op.
func (r *Renewer) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		_ = r.Run(ctx)
	}()
}

// Stop ends the goroutine Start began and waits for it.
func (r *Renewer) Stop() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Run renews the certificate at two thirds of its lifetime (minus jitter), retrying failures
// with jittered exponential backoff, until ctx ends; it returns ctx's error.
func (r *Renewer) Run(ctx context.Context) error {
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.cfg.After(r.nextDelay(failures)):
		}
		if err := r.RenewOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			r.cfg.OnError(err)
			continue
		}
		failures = 0
	}
}

// nextDelay is how long to wait before the next attempt.
func (r *Renewer) nextDelay(failures int) time.Duration {
	if failures == 0 {
		cert := r.cfg.Identity.Certificate()
		spread := cert.NotAfter.Sub(cert.NotBefore) / 12
		return max(0, r.cfg.Identity.RenewAt().Sub(r.cfg.Now())-r.cfg.Jitter(spread))
	}
	backoff := r.cfg.MaxRetry
	if failures < 32 {
		backoff = min(r.cfg.MinRetry<<(failures-1), r.cfg.MaxRetry)
	}
	// Equal jitter: at least half the backoff, so retries never collapse to a tight loop.
	return backoff/2 + r.cfg.Jitter(backoff/2)
}

// RenewOnce asks for a new certificate for the current key and installs it.
func (r *Renewer) RenewOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	id := r.cfg.Identity
	csr, err := NewCSR(id.Key())
	if err != nil {
		return err
	}
	ch, err := r.cfg.Client.Challenge(ctx)
	if err != nil {
		return fmt.Errorf("enroll: renewal challenge: %w", err)
	}
	proof, err := keyproof.Sign(id.Key(), [][]byte{id.Certificate().Raw}, ch, r.cfg.Now(), csr)
	if err != nil {
		return err
	}
	certPEM, err := r.cfg.Client.Renew(ctx, csr, proof)
	if err != nil {
		return fmt.Errorf("enroll: renewal refused: %w", err)
	}
	return id.Replace(certPEM)
}

package enroll

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/kvmrelay/kvmrelay/control/ca/keyproof"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// relay is an in-process stand-in for the relay's HTTP API, backed by the real CA.
type relay struct {
	ca       *ca.CA
	enroller *ca.Enroller
	tokens   *ca.MemTokenStore
	revs     *ca.MemRevocations
	clock    *testenv.Clock

	mu        sync.Mutex
	challenge keyproof.Challenge
	failNext  int // Renew calls left to fail
	renewals  int
}

var errRelayDown = errors.New("relay unavailable")

func newRelay(t *testing.T) *relay {
	t.Helper()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	revs := ca.NewMemRevocations()
	c, err := ca.Open(context.Background(), ca.Config{Store: ca.FileKeyStore{Dir: t.TempDir()}, Revocation: revs, Now: clock.Now})
	require.NoError(t, err)
	tokens := ca.NewMemTokenStore()
	return &relay{ca: c, enroller: &ca.Enroller{CA: c, Tokens: tokens}, tokens: tokens, revs: revs, clock: clock}
}

// token makes an enrollment token for deviceID, valid for an hour.
func (r *relay) token(deviceID string) string {
	tok, h := ca.NewEnrollmentToken()
	r.tokens.Add(h, deviceID, r.clock.Now().Add(time.Hour))
	return tok
}

func (r *relay) Enroll(ctx context.Context, token string, csrPEM []byte) ([]byte, []byte, error) {
	return r.enroller.Enroll(ctx, token, csrPEM)
}

func (r *relay) Challenge(context.Context) (keyproof.Challenge, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.challenge = keyproof.NewChallenge("https://relay.test")
	return r.challenge, nil
}

func (r *relay) Renew(ctx context.Context, csrPEM []byte, p keyproof.Proof) ([]byte, error) {
	r.mu.Lock()
	want := r.challenge
	r.challenge = keyproof.Challenge{} // single use
	fail := r.failNext > 0
	if fail {
		r.failNext--
	}
	r.renewals++
	r.mu.Unlock()
	if fail {
		return nil, errRelayDown
	}
	return r.enroller.Renew(ctx, csrPEM, p, want)
}

func (r *relay) setFail(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = n
}

// enrolled returns a relay and an agent identity enrolled as deviceID in a fresh state dir.
func enrolled(t *testing.T, deviceID string) (*relay, *Identity, string) {
	t.Helper()
	r := newRelay(t)
	dir := filepath.Join(t.TempDir(), "state") // Enroll creates it
	id, err := Enroll(context.Background(), dir, r.token(deviceID), r)
	require.NoError(t, err)
	return r, id, dir
}

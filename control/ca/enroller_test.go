package ca

import (
	"context"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newEnroller(t *testing.T) (testCA, *Enroller, *MemTokenStore) {
	t.Helper()
	tc := newTestCA(t)
	tokens := NewMemTokenStore()
	return tc, &Enroller{CA: tc.CA, Tokens: tokens}, tokens
}

func TestEnrollIssuesForTheTokensDevice(t *testing.T) {
	tc, e, tokens := newEnroller(t)
	tok, h := NewEnrollmentToken()
	tokens.Add(h, "dev-9", tc.clock.Now().Add(time.Hour))
	certPEM, caPEM, err := e.Enroll(context.Background(), tok, csrFor(t, newP384(t), nil))
	require.NoError(t, err)
	assert.Equal(t, tc.RootPEM(), caPEM)
	dev, err := tc.Verify(context.Background(), []*x509.Certificate{parsePEMCert(t, certPEM)}, tc.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, "dev-9", dev.ID)
}

// TestEnrollRejects is SECURITY.md item 8 for enrollment tokens, end to end.
func TestEnrollRejects(t *testing.T) {
	tc, e, tokens := newEnroller(t)
	ctx := context.Background()
	csr := csrFor(t, newP384(t), nil)

	used, usedHash := NewEnrollmentToken()
	tokens.Add(usedHash, "dev-u", tc.clock.Now().Add(time.Hour))
	_, _, err := e.Enroll(ctx, used, csr)
	require.NoError(t, err)

	expired, expiredHash := NewEnrollmentToken()
	tokens.Add(expiredHash, "dev-e", tc.clock.Now().Add(-time.Second))
	unknown, _ := NewEnrollmentToken()

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"replayed", used, ErrTokenUsed},
		{"expired", expired, ErrTokenExpired},
		{"unknown", unknown, ErrTokenUnknown},
		{"empty", "", ErrTokenMalformed},
		{"truncated", used[:len(used)-3], ErrTokenMalformed},
		{"wrong prefix", "kvmx_" + used[len(TokenPrefix):], ErrTokenMalformed},
		{"random garbage", "\xff\xfe not a token at all, no sir\x00", ErrTokenMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			certPEM, caPEM, err := e.Enroll(ctx, c.token, csr)
			require.ErrorIs(t, err, c.want)
			require.ErrorIs(t, err, ErrTokenRejected)
			assert.Nil(t, certPEM)
			assert.Nil(t, caPEM)
		})
	}
}

// A bad CSR must not burn the token: the agent retries with a good one.
func TestEnrollBadCSRKeepsToken(t *testing.T) {
	tc, e, tokens := newEnroller(t)
	tok, h := NewEnrollmentToken()
	tokens.Add(h, "dev-1", tc.clock.Now().Add(time.Hour))
	_, _, err := e.Enroll(context.Background(), tok, []byte("nope"))
	require.ErrorIs(t, err, ErrBadCSR)
	_, _, err = e.Enroll(context.Background(), tok, csrFor(t, newP384(t), nil))
	require.NoError(t, err)
}

func TestEnrollConcurrentSameToken(t *testing.T) {
	tc, e, tokens := newEnroller(t)
	tok, h := NewEnrollmentToken()
	tokens.Add(h, "dev-1", tc.clock.Now().Add(time.Hour))
	csrs := make([][]byte, 8)
	for i := range csrs {
		csrs[i] = csrFor(t, newP384(t), nil)
	}
	var ok, used atomic.Int32
	var wg sync.WaitGroup
	for i := range csrs {
		wg.Go(func() {
			_, _, err := e.Enroll(context.Background(), tok, csrs[i])
			switch {
			case err == nil:
				ok.Add(1)
			case assert.ErrorIs(t, err, ErrTokenUsed):
				used.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), ok.Load(), "exactly one enrollment wins")
	assert.Equal(t, int32(len(csrs)-1), used.Load())
}

func TestEnrollRevokedDeviceGetsNothing(t *testing.T) {
	tc, e, tokens := newEnroller(t)
	tok, h := NewEnrollmentToken()
	tokens.Add(h, "dev-1", tc.clock.Now().Add(time.Hour))
	tc.revs.RevokeDevice("dev-1")
	certPEM, _, err := e.Enroll(context.Background(), tok, csrFor(t, newP384(t), nil))
	require.ErrorIs(t, err, ErrRevoked)
	assert.Nil(t, certPEM)
}

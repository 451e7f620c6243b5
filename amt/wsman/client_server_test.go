package wsman

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientServerCalls(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, testPassword)
	c := h.client

	state, err := c.PowerState(ctx)
	require.NoError(t, err)
	assert.Equal(t, PowerOn, state)

	rv, err := c.RequestPowerStateChange(ctx, PowerOffSoft)
	require.NoError(t, err)
	assert.Equal(t, ReturnSuccess, rv)
	state, err = c.PowerState(ctx)
	require.NoError(t, err)
	assert.Equal(t, PowerOffSoft, state)
	rv, err = c.RequestPowerStateChange(ctx, 99)
	require.NoError(t, err)
	assert.Equal(t, ReturnInvalidParameter, rv)
	assert.Equal(t, []int{PowerOffSoft, 99}, h.fw.powerReqs)

	f, err := c.Features(ctx)
	require.NoError(t, err)
	assert.Equal(t, Features{
		RedirectionState:  32771,
		ListenerEnabled:   true,
		KVMAvailable:      true,
		KVMEnabledState:   KVMEnabledOffline,
		KVMRequestedState: 2,
		OptInRequired:     OptInKVM,
		OptInState:        OptInStateNotStarted,
	}, f)
	assert.True(t, f.Redirection())
	assert.True(t, f.SOL())
	assert.True(t, f.IDER())
	assert.True(t, f.KVM())
	assert.Equal(t, "kvm", f.UserConsent())

	// Consent: wrong state, start, wrong code, right code, cancel.
	rv, err = c.SendOptInCode(ctx, 123456)
	require.NoError(t, err)
	assert.Equal(t, ReturnNotReady, rv)
	rv, err = c.StartOptIn(ctx)
	require.NoError(t, err)
	assert.Equal(t, ReturnSuccess, rv)
	f, err = c.Features(ctx)
	require.NoError(t, err)
	assert.Equal(t, OptInStateDisplayed, f.OptInState)
	rv, err = c.SendOptInCode(ctx, 654321)
	require.NoError(t, err)
	assert.Equal(t, ReturnUnsupported, rv)
	rv, err = c.SendOptInCode(ctx, 123456)
	require.NoError(t, err)
	assert.Equal(t, ReturnSuccess, rv)
	f, err = c.Features(ctx)
	require.NoError(t, err)
	assert.Equal(t, OptInStateReceived, f.OptInState)
	rv, err = c.CancelOptIn(ctx)
	require.NoError(t, err)
	assert.Equal(t, ReturnSuccess, rv)

	ds, err := c.Displays(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Display{
		{Index: 0, IsActive: true, ResolutionX: 1920, ResolutionY: 1080, IsDefault: true, Role: RolePrimary},
		{Index: 1, IsActive: true, UpperLeftX: 1920, ResolutionX: 1280, ResolutionY: 1024, Role: RoleSecondary},
	}, ds)
	require.NoError(t, c.SetDefaultDisplay(ctx, 1))
	ds, err = c.Displays(ctx)
	require.NoError(t, err)
	assert.False(t, ds[0].IsDefault)
	assert.True(t, ds[1].IsDefault)

	err = c.SetDefaultDisplay(ctx, 7)
	require.ErrorIs(t, err, ErrFault)
	var fe *FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "c:InvalidRepresentation", fe.Subcode)
	assert.Equal(t, 400, fe.Status)

	// One 401 at the start, then every call on the one kept connection.
	assert.Equal(t, 2, h.dials())
}

func TestFeaturesWithoutKVM(t *testing.T) {
	h := newHarness(t, testPassword)
	h.fw.features = Features{RedirectionState: RedirectionBase, OptInRequired: OptInAll, OptInState: OptInStateInSession}
	f, err := h.client.Features(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Features{RedirectionState: RedirectionBase, OptInRequired: OptInAll, OptInState: OptInStateInSession}, f)
	assert.False(t, f.KVM())
	assert.False(t, f.SOL())
	assert.False(t, f.IDER())
	assert.False(t, f.Redirection())
	assert.Equal(t, "all", f.UserConsent())
}

func TestWrongPassword(t *testing.T) {
	h := newHarness(t, "wrong")
	_, err := h.client.PowerState(context.Background())
	require.ErrorIs(t, err, ErrAuth)
	// Unauthenticated, then the digest, each refused on its own connection.
	assert.Equal(t, 2, h.dials())
}

// TestStaleNonce: when the nonce expires, a correct digest draws a stale
// challenge and the client retries with the new nonce, without ErrAuth.
func TestStaleNonce(t *testing.T) {
	h := newHarness(t, testPassword)
	ctx := context.Background()
	_, err := h.client.PowerState(ctx)
	require.NoError(t, err)
	later := testNow.Add(nonceLifetime + time.Second)
	h.srv.mu.Lock()
	h.srv.now = func() time.Time { return later }
	h.srv.mu.Unlock()
	_, err = h.client.PowerState(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, h.dials())
}

// TestNonceAcrossConnections is what MPS does: it takes the challenge from a
// 401 on one channel and answers it on the next.
func TestNonceAcrossConnections(t *testing.T) {
	h := newHarness(t, testPassword)
	ctx := context.Background()
	_, err := h.client.StartOptIn(ctx)
	require.NoError(t, err)
	reqs := h.rec.requests(t)
	require.Len(t, reqs, 2)
	assert.Equal(t, 2, h.dials(), "the digest went out on a second connection")
}

func TestClientOverTCP(t *testing.T) {
	fw := newFakeFirmware()
	srv := newTestServer(t, fw)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = srv.Serve(ctx, conn)
			}()
		}
	}()
	c := NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}, testUser, testPassword)
	t.Cleanup(func() {
		_ = c.Close()
		cancel()
		_ = ln.Close()
		wg.Wait()
	})
	state, err := c.PowerState(ctx)
	require.NoError(t, err)
	assert.Equal(t, PowerOn, state)
	ds, err := c.Displays(ctx)
	require.NoError(t, err)
	assert.Len(t, ds, 2)
}

func TestClosedClient(t *testing.T) {
	h := newHarness(t, testPassword)
	require.NoError(t, h.client.Close())
	_, err := h.client.PowerState(context.Background())
	require.ErrorIs(t, err, errClosed)
}

// TestServeEndsWithContext: Serve returns when its context ends, even with
// the peer silent.
func TestServeEndsWithContext(t *testing.T) {
	srv := newTestServer(t, newFakeFirmware())
	c1, c2 := net.Pipe()
	defer c1.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, c2) }()
	cancel()
	err := <-done
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

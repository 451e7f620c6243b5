package enroll

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNeedsRenewal(t *testing.T) {
	_, id, _ := enrolled(t, "dev-1")
	c := id.Certificate()
	at := c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
	assert.Equal(t, at, id.RenewAt())
	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"just issued", c.NotBefore, false},
		{"just before two thirds", at.Add(-time.Nanosecond), false},
		{"at two thirds", at, true},
		{"expired", c.NotAfter.Add(time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, id.NeedsRenewal(tc.now))
		})
	}
}

// fakeTimer hands every requested wait to the test, which fires it when it chooses.
type fakeTimer struct{ waits chan fakeWait }

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func (f *fakeTimer) After(d time.Duration) <-chan time.Time {
	w := fakeWait{d: d, fire: make(chan time.Time, 1)}
	f.waits <- w
	return w.fire
}

func (f *fakeTimer) next(t *testing.T) fakeWait {
	t.Helper()
	select {
	case w := <-f.waits:
		return w
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("renewer did not schedule its next wait")
		return fakeWait{}
	}
}

// TestRenewerSchedule drives the renewer entirely by an injected clock and timer: it waits
// until two thirds of the lifetime (less jitter), renews, backs off on failures, and picks
// up the schedule of each new certificate.
func TestRenewerSchedule(t *testing.T) {
	r, id, _ := enrolled(t, "dev-1")
	timer := &fakeTimer{waits: make(chan fakeWait, 8)}
	var errMu sync.Mutex
	var errs []error
	ren, err := NewRenewer(RenewerConfig{
		Identity: id,
		Client:   r,
		Now:      r.clock.Now,
		After:    timer.After,
		Jitter:   func(max time.Duration) time.Duration { return max / 4 },
		MinRetry: 10 * time.Second,
		MaxRetry: 40 * time.Second,
		OnError: func(err error) {
			errMu.Lock()
			defer errMu.Unlock()
			errs = append(errs, err)
		},
	})
	require.NoError(t, err)
	ren.Start(context.Background())
	defer ren.Stop()

	expectRenewalWait := func() fakeWait {
		t.Helper()
		c := id.Certificate()
		spread := c.NotAfter.Sub(c.NotBefore) / 12
		w := timer.next(t)
		assert.Equal(t, id.RenewAt().Sub(r.clock.Now())-spread/4, w.d)
		return w
	}

	// First certificate: wait, renew.
	first := id.Certificate()
	w := expectRenewalWait()
	r.clock.Add(w.d)
	w.fire <- r.clock.Now()

	// Second certificate, issued now, with its own schedule.
	w = expectRenewalWait()
	second := id.Certificate()
	assert.NotEqual(t, first.SerialNumber, second.SerialNumber)
	assert.True(t, second.NotAfter.After(first.NotAfter))
	assert.Equal(t, "dev-1", second.Subject.CommonName)

	// The relay fails three times: equal-jitter backoff 10s, 20s, 40s (capped), each waiting
	// half plus a quarter of the jitter range here.
	r.setFail(3)
	r.clock.Add(w.d)
	w.fire <- r.clock.Now()
	for _, backoff := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		w = timer.next(t)
		assert.Equal(t, backoff/2+backoff/2/4, w.d)
		assert.Equal(t, second.Raw, id.Certificate().Raw, "failed renewals keep the old certificate")
		r.clock.Add(w.d)
		w.fire <- r.clock.Now()
	}
	// Fourth attempt succeeds and the normal schedule resumes.
	expectRenewalWait()
	assert.NotEqual(t, second.SerialNumber, id.Certificate().SerialNumber)
	errMu.Lock()
	assert.Len(t, errs, 3)
	for _, e := range errs {
		assert.ErrorIs(t, e, errRelayDown)
	}
	errMu.Unlock()
}

func TestRenewerRefusedWhenRevoked(t *testing.T) {
	r, id, _ := enrolled(t, "dev-1")
	ren, err := NewRenewer(RenewerConfig{Identity: id, Client: r, Now: r.clock.Now})
	require.NoError(t, err)
	require.NoError(t, ren.RenewOnce(context.Background()))
	r.revs.RevokeDevice("dev-1")
	before := id.Certificate()
	r.clock.Add(time.Hour)
	require.Error(t, ren.RenewOnce(context.Background()))
	assert.Equal(t, before.Raw, id.Certificate().Raw)
}

func TestRenewerStopsWithContext(t *testing.T) {
	r, id, _ := enrolled(t, "dev-1")
	timer := &fakeTimer{waits: make(chan fakeWait, 8)}
	ren, err := NewRenewer(RenewerConfig{Identity: id, Client: r, Now: r.clock.Now, After: timer.After})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ren.Start(ctx)
	ren.Start(ctx) // no second goroutine
	timer.next(t)
	cancel()
	ren.Stop() // returns once the goroutine is gone; goleak checks the rest
}

package accounts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// The login benchmarks print figures (make bench-login); they never fail on time.

func benchService(b *testing.B, mod func(*Config)) (*Service, *testenv.Clock) {
	b.Helper()
	dir := b.TempDir()
	_, err := sqlite.Migrate(context.Background(), dir)
	require.NoError(b, err)
	st, err := sqlite.Open(context.Background(), dir)
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0).UTC())
	cfg := Config{Store: st, Issuer: testIssuer(b, clock), Now: clock.Now, Argon2: cheapArgon2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	require.NoError(b, err)
	b.Cleanup(func() { _ = svc.Close(context.Background()) })
	_, _, err = svc.CreateOwner(context.Background(), "Acme", "acme", "owner@acme.test", ownerPassword)
	require.NoError(b, err)
	return svc, clock
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkLoginFlood: a legitimate login's latency, idle and while 3,000 logins with random
// emails from 250 addresses hammer the node (the flood), with production argon2 costs
// and the real clock. The per-address limits are lifted so that every flood request reaches
// the hasher: the worst case for it.
func BenchmarkLoginFlood(b *testing.B) {
	svc, _ := benchService(b, func(c *Config) {
		c.Now = time.Now
		c.Argon2 = DefaultArgon2Params()
		c.Limits.LoginPerAddr = Limit{Every: time.Microsecond, Burst: 1 << 20}
		c.Limits.LoginPerAccount = Limit{Every: time.Microsecond, Burst: 1 << 20}
	})
	ctx := context.Background()
	legit := func(n int) []time.Duration {
		var out []time.Duration
		for i := range n {
			start := time.Now()
			_, err := svc.Login(ctx, LoginRequest{Org: "acme", Email: "owner@acme.test", Password: ownerPassword, ClientAddr: fmt.Sprintf("192.0.2.%d:1", 1+i%200)})
			if err == nil {
				out = append(out, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
		return out
	}
	for b.Loop() {
		idle := legit(40)
		flood, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcome := map[string]int{}
		next := make(chan int)
		wg.Go(func() {
			defer close(next)
			for i := range 3000 {
				select {
				case next <- i:
				case <-flood.Done():
					return
				}
			}
		})
		for range 64 {
			wg.Go(func() {
				for i := range next {
					_, err := svc.Login(flood, LoginRequest{Org: "acme", Email: fmt.Sprintf("u%d-%d@acme.test", i, rand.Int()), Password: "guess guess guess",
						ClientAddr: fmt.Sprintf("203.0.%d.%d:1", i%250/200, i%250)})
					k := "bad credentials"
					switch {
					case errors.Is(err, ErrBusy):
						k = "busy"
					case errors.Is(err, ErrRateLimited):
						k = "rate limited"
					case err != nil && !errors.Is(err, ErrBadCredentials):
						k = "other"
					}
					mu.Lock()
					outcome[k]++
					mu.Unlock()
				}
			})
		}
		runs0, shed0 := svc.hasher.runs.Load(), svc.hasher.shed.Load()
		time.Sleep(200 * time.Millisecond)
		loaded := legit(40)
		cancel()
		wg.Wait()
		fmt.Printf("legitimate login, idle:        p50 %v  p95 %v  (%d logins)\n", percentile(idle, .5).Round(time.Millisecond), percentile(idle, .95).Round(time.Millisecond), len(idle))
		fmt.Printf("legitimate login, under flood: p50 %v  p95 %v  (%d logins)\n", percentile(loaded, .5).Round(time.Millisecond), percentile(loaded, .95).Round(time.Millisecond), len(loaded))
		fmt.Printf("flood: %v; argon2 runs %d, dummy verifications shed %d\n", outcome, svc.hasher.runs.Load()-runs0, svc.hasher.shed.Load()-shed0)
	}
}

// BenchmarkLoginLockout simulates (test clock, 100 ms steps) one hour of a sustained flood of
// wrong passwords at one account, each attempt from a fresh address, 10 a second, and the real
// user signing in every 37 s: from a fresh address without a device cookie, retrying when
// Retry-After says (in a step, the attacker's and the user's attempts come in random order),
// and with the cookie of an earlier login. It prints how long the user was kept out and how
// many guesses the attacker had checked.
func BenchmarkLoginLockout(b *testing.B) {
	for b.Loop() {
		for _, withCookie := range []bool{false, true} {
			svc, clock := benchService(b, nil)
			ctx := context.Background()
			first, err := svc.Login(ctx, LoginRequest{Org: "acme", Email: "owner@acme.test", Password: ownerPassword, ClientAddr: "192.0.2.1:1"})
			require.NoError(b, err)
			rng := rand.New(rand.NewPCG(1, 2))
			start := clock.Now()
			var keptOut []time.Duration
			checked, attackerN, userN := 0, 0, 0
			trialStart, nextTry := start, start
			for clock.Now().Sub(start) < time.Hour {
				now := clock.Now()
				attacker := func() {
					_, err := svc.Login(ctx, LoginRequest{Org: "acme", Email: "owner@acme.test", Password: "guess", ClientAddr: rotatingAddr(attackerN)})
					attackerN++
					if !errors.Is(err, ErrRateLimited) {
						checked++
					}
				}
				user := func() {
					if now.Before(nextTry) {
						return
					}
					dev := ""
					if withCookie {
						dev = first.Device
					}
					_, err := svc.Login(ctx, LoginRequest{Org: "acme", Email: "owner@acme.test", Password: ownerPassword, ClientAddr: fmt.Sprintf("192.0.%d.%d:1", 3+userN/250, 1+userN%250), DeviceToken: dev})
					var rl *RateLimitError
					switch {
					case errors.As(err, &rl):
						nextTry = now.Add(rl.RetryAfter)
					case err != nil:
						b.Fatalf("the user's login: %v", err)
					default:
						keptOut = append(keptOut, now.Sub(trialStart))
						userN++
						trialStart = now.Add(37 * time.Second)
						nextTry = trialStart
					}
				}
				if rng.IntN(2) == 0 {
					attacker()
					user()
				} else {
					user()
					attacker()
				}
				clock.Add(100 * time.Millisecond)
			}
			mode := "fresh address, no cookie"
			if withCookie {
				mode = "device cookie           "
			}
			fmt.Printf("rotating flood 10/s for 1 h, user %s: kept out p50 %v  p95 %v  max %v (%d sign-ins); attacker's guesses checked: %d of %d (per hour)\n",
				mode, percentile(keptOut, .5), percentile(keptOut, .95), slices.Max(append(keptOut, 0)), len(keptOut), checked, attackerN)
		}
	}
}

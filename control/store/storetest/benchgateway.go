package storetest

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// BenchEnv names the environment variable that turns the store benchmarks on (make
// bench-gateway); without it BenchGatewayPresence skips.
const BenchEnv = "KVMRELAY_BENCH"

// BenchGatewayPresence measures what a gateway's heartbeat costs the store: one
// Tx.TargetsSeen marking every machine it reaches seen (the relay's write every 10 s per
// gateway), for gateways of 200, 2,000 and 10,000 machines; it prints p50 and p95 per write
// and per machine. It runs only with KVMRELAY_BENCH=gateway.
func BenchGatewayPresence(t *testing.T, s store.Store, dialect string) {
	if os.Getenv(BenchEnv) != "gateway" {
		t.Skip("a benchmark: make bench-gateway")
	}
	for _, n := range []int{200, 2000, 10000} {
		o := newOrg(t, s, fmt.Sprintf("bench-%s-%d", dialect, n))
		gw := mustGateway(t, s, o.ID, "mps-gw")
		targets := make([]string, n)
		for i := range targets {
			targets[i] = guid(i)
		}
		// The rows, created in batches as an admin's script or tag adoption would.
		for start := 0; start < n; start += 500 {
			write(t, s, o.ID, func(tx store.Tx) error {
				for i := start; i < min(start+500, n); i++ {
					if _, err := tx.CreateDevice(ctxT(t), store.Device{Name: fmt.Sprintf("amt-%05d", i), GatewayID: gw.ID, Target: targets[i], CreatedAt: epoch}); err != nil {
						return err
					}
				}
				return nil
			})
		}
		const rounds = 30
		took := make([]time.Duration, 0, rounds)
		for range rounds {
			start := time.Now()
			var updated int64
			write(t, s, o.ID, func(tx store.Tx) error {
				var err error
				updated, err = tx.TargetsSeen(ctxT(t), gw.ID, targets, time.Now(), "0.1.0", `{"sources":["amt"]}`)
				return err
			})
			took = append(took, time.Since(start))
			require.Equal(t, int64(n), updated)
		}
		slices.Sort(took)
		p50, p95 := took[len(took)/2], took[len(took)*95/100]
		fmt.Printf("gateway heartbeat, %s, %5d machines: p50 %8.2f ms  p95 %8.2f ms  (%5.1f µs per machine at p50; %d writes)\n",
			dialect, n, ms(p50), ms(p95), float64(p50.Microseconds())/float64(n), rounds)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

package storetest

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// BenchEnv names the environment variable that turns the store benchmarks on (make
// bench-gateway); without it BenchGatewayPresence skips.
const BenchEnv = "KVMRELAY_BENCH"

// BenchGatewayPresence measures what a gateway's link reports cost the store
// (Tx.SetTargetLinks), for gateways of 200, 2,000 and 10,000 machines: the full list of a
// gateway that (re)connects, in reports of 512 as it sends them, and a report of 10 changes,
// the steady state. Heartbeats write the gateway's row only, whatever it serves. It prints p50
// and p95 and runs only with KVMRELAY_BENCH=gateway.
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
		report := func(reset bool, up, down []string) {
			write(t, s, o.ID, func(tx store.Tx) error {
				_, err := tx.SetTargetLinks(ctxT(t), gw.ID, reset, up, down, time.Now())
				return err
			})
		}
		const rounds = 20
		var full, changes []time.Duration
		for r := range rounds {
			start := time.Now()
			for i := 0; i < n; i += 512 {
				report(i == 0, targets[i:min(i+512, n)], nil)
			}
			full = append(full, time.Since(start))
			flip := targets[(r*10)%n : (r*10)%n+10]
			start = time.Now()
			report(false, nil, flip)
			changes = append(changes, time.Since(start))
		}
		slices.Sort(full)
		slices.Sort(changes)
		fmt.Printf("gateway links, %s, %5d machines: full list on connect p50 %8.2f ms p95 %8.2f ms; 10 changes p50 %6.2f ms p95 %6.2f ms (%d rounds)\n",
			dialect, n, ms(full[len(full)/2]), ms(full[len(full)*95/100]), ms(changes[len(changes)/2]), ms(changes[len(changes)*95/100]), rounds)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

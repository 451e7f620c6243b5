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

// BenchGatewayPresence measures what a gateway's link reports cost the store, for gateways of
// 200, 2,000 and 10,000 machines: a gateway reconnecting with every machine still up (its
// full list in reports of 512 as it sends them: what is already up is not written again, then
// LinkedTargets for what the list left out), all machines coming up at once (the first
// connection), and a report of 10 changes (the steady state). Heartbeats write the gateway's
// own row only, whatever it serves. It prints p50 and p95 and runs only with
// KVMRELAY_BENCH=gateway.
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
		report := func(up, down []string) {
			write(t, s, o.ID, func(tx store.Tx) error {
				_, err := tx.SetTargetLinks(ctxT(t), gw.ID, up, down, time.Now())
				return err
			})
		}
		fullList := func() {
			for i := 0; i < n; i += 512 {
				report(targets[i:min(i+512, n)], nil)
			}
			write(t, s, o.ID, func(tx store.Tx) error {
				_, err := tx.LinkedTargets(ctxT(t), gw.ID)
				return err
			})
		}
		const rounds = 20
		var first, again, changes []time.Duration
		for r := range rounds {
			report(nil, targets) // all down: the next list brings every machine up
			start := time.Now()
			fullList()
			first = append(first, time.Since(start))
			start = time.Now()
			fullList()
			again = append(again, time.Since(start))
			flip := targets[(r*10)%n : (r*10)%n+10]
			start = time.Now()
			report(nil, flip)
			changes = append(changes, time.Since(start))
		}
		p := func(d []time.Duration, q int) float64 { slices.Sort(d); return ms(d[len(d)*q/100]) }
		fmt.Printf("gateway links, %s, %5d machines: reconnect, all still up p50 %7.2f ms p95 %7.2f ms; all coming up p50 %7.2f ms p95 %7.2f ms; 10 changes p50 %5.2f ms p95 %5.2f ms (%d rounds)\n",
			dialect, n, p(again, 50), p(again, 95), p(first, 50), p(first, 95), p(changes, 50), p(changes, 95), rounds)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

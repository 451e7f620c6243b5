package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/agent"
	"github.com/kvmrelay/kvmrelay/control/device"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/relay"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/utils.StartTimeStampUpdater.func1.1"),
			// The same process-wide ticker, named where the race build inlines it.
			goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/middleware/limiter.FixedWindow.New.StartTimeStampUpdater.func2.1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// testRelay runs a real relay on the embedded store with one organization and device.
func testRelay(t *testing.T) (r *relay.Relay, org, dev string) {
	t.Helper()
	r, err := relay.New(relay.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	require.Eventually(t, func() bool {
		resp, err := http.Get(r.URL() + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	o, err := r.Store().CreateOrganization(context.Background(), store.Organization{Name: "acme", Slug: "acme"})
	require.NoError(t, err)
	require.NoError(t, r.Store().Write(context.Background(), o.ID, func(tx store.Tx) error {
		d, err := tx.CreateDevice(context.Background(), store.Device{Name: "rack-1"})
		dev = d.ID
		return err
	}))
	return r, o.ID, dev
}

func newToken(t *testing.T, r *relay.Relay, org, dev string) string {
	t.Helper()
	tok, hash := device.NewEnrollmentToken()
	require.NoError(t, r.Store().Write(context.Background(), org, func(tx store.Tx) error {
		return tx.CreateEnrollmentToken(context.Background(), store.EnrollmentToken{Hash: hash, DeviceID: dev, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	}))
	return tok
}

// TestEnrollThenRun: `kvmagent enroll` then `kvmagent run --state-dir`, against a real relay:
// the agent connects as the enrolled device and reports itself; a used token and a second
// enrollment into the same directory are refused with what to do next.
func TestEnrollThenRun(t *testing.T) {
	r, org, dev := testRelay(t)
	tok := newToken(t, r, org, dev)
	dir := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()

	var out bytes.Buffer
	require.NoError(t, dispatch(ctx, []string{"enroll", "--server", r.URL(), "--token", tok, "--state-dir", dir}, &out))
	assert.Contains(t, out.String(), "enrolled as device "+dev)

	err := dispatch(ctx, []string{"enroll", "--server", r.URL(), "--token", tok, "--state-dir", t.TempDir()}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "token invalid or used — ask an admin for a new enrollment token")
	err = dispatch(ctx, []string{"enroll", "--server", r.URL(), "--token", newToken(t, r, org, dev), "--state-dir", dir}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already holds an enrolled identity")

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = dispatch(runCtx, []string{"run", "--server", r.URL(), "--state-dir", dir, "--size", "640x480", "--fps", "5", "--log-level", "error"}, io.Discard)
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	require.Eventually(t, func() bool {
		var d store.Device
		_ = r.Store().Read(ctx, org, func(tx store.Tx) error { d, _ = tx.Device(ctx, dev); return nil })
		return d.LastSeen != nil && d.AgentVersion == agent.Version
	}, 10*time.Second, 20*time.Millisecond, "the agent reports itself as the enrolled device")
	cancel()
	wg.Wait()
	assert.NoError(t, runErr)
}

func TestRunFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"neither identity":   {"--server", "http://127.0.0.1:1"},
		"both identities":    {"--server", "http://127.0.0.1:1", "--token", "x", "--state-dir", "/tmp"},
		"no server":          {"--token", "x"},
		"not enrolled":       {"--server", "http://127.0.0.1:1", "--state-dir", "/nonexistent-kvmagent-state"},
		"enroll needs token": {"enroll", "--server", "http://127.0.0.1:1", "--state-dir", "/tmp/x"},
	} {
		if args[0] != "enroll" {
			args = append([]string{"run"}, args...)
		}
		assert.Error(t, dispatch(context.Background(), args, io.Discard), name)
	}
}

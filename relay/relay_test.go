package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/api"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/turn"
)

// pg is PostgreSQL for the store tests, started on first use.
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop postgres:", err)
	}
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/utils.StartTimeStampUpdater.func1.1"),
			// The same process-wide ticker, named where the race build inlines it.
			goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/middleware/limiter.FixedWindow.New.StartTimeStampUpdater.func2.1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func startRelay(t *testing.T, withTURN bool) *Relay {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if withTURN {
		cfg.TURN = &turn.Config{ListenAddr: "127.0.0.1:0", PublicIP: netip.MustParseAddr("127.0.0.1"), Secrets: [][]byte{[]byte("relay-test-secret-0123456789")}}
	}
	return serveRelay(t, cfg)
}

// serveRelay starts a relay with cfg, serving until the test ends, and waits for /healthz.
func serveRelay(t *testing.T, cfg Config) *Relay {
	t.Helper()
	r, err := New(cfg)
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
		return err == nil && resp.StatusCode == 200
	}, 5*time.Second, 10*time.Millisecond)
	return r
}

func redeem(t *testing.T, r *Relay, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(r.URL()+"/api/v1/console/redeem", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func TestRedeemOnce(t *testing.T) {
	r := startRelay(t, false)
	link, err := ConsoleLink(r.Issuer(), r.URL(), "dev1", "alice")
	require.NoError(t, err)
	code := link[strings.Index(link, "#code=")+len("#code="):]

	status, out := redeem(t, r, `{"code":"`+code+`"}`)
	require.Equal(t, 200, status, "%v", out)
	claims, err := r.Issuer().Verify(out["token"].(string), auth.AudienceConsole)
	require.NoError(t, err)
	assert.Equal(t, "dev1", claims.Device)
	assert.Equal(t, "alice", claims.Subject)
	assert.True(t, strings.HasPrefix(claims.Session, "s_"))

	status, out = redeem(t, r, `{"code":"`+code+`"}`)
	assert.Equal(t, 401, status)
	assert.Equal(t, "link-used", out["code"])
	assert.Contains(t, out["message"], "kvmrelay token console", "the error says how to get a new link")

	agentTok, err := AgentToken(r.Issuer(), "dev1", time.Minute)
	require.NoError(t, err)
	for _, body := range []string{`{"code":"` + agentTok + `"}`, `{"code":"garbage"}`, `{}`, `not json`} {
		status, out := redeem(t, r, body)
		assert.Contains(t, []int{400, 401}, status, body)
		assert.NotContains(t, strings.ToLower(out["message"].(string)), "jwt", "no internal error text")
	}
}

func TestHeadersAndEndpoints(t *testing.T) {
	r := startRelay(t, true)
	for _, path := range []string{"/", "/console/", "/healthz", "/api/v1/console/redeem"} {
		resp, err := http.Get(r.URL() + path)
		require.NoError(t, err)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", path)
		assert.NotContains(t, csp, "unsafe-inline", path)
		if path == "/" || path == "/console/" {
			assert.Contains(t, csp, "connect-src 'self';", path)
			assert.NotContains(t, csp, "ws:", "sockets to the relay's own origin only: %s", path)
		}
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), path)
	}
	resp, err := http.Get(r.URL() + "/console/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), "<video")
	resp, err = http.Get(r.URL() + "/")
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(page), `id="signin-form"`, "the dashboard's sign-in is at the root")

	resp, err = http.Get(r.URL() + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"kvmrelay_console_sessions ", "kvmrelay_console_sessions_opened_total ", "kvmrelay_agents_connected ", "kvmrelay_turn_allocations_active{", "kvmrelay_turn_refusals_total{", "go_goroutines "} {
		assert.True(t, strings.Contains(string(metrics), "\n"+name), "metric %s exported", name)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = client.Get(r.URL() + "/favicon.ico")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "/console/img/icon.svg", resp.Header.Get("Location"))

	// The WebSocket endpoints refuse plain HTTP with a clear status, not a panic or a hang.
	resp, err = http.Get(r.URL() + "/ws/console")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
}

func TestICEServersCarryFreshCredentials(t *testing.T) {
	r := startRelay(t, true)
	servers := turnICE{srv: r.TURN(), ttl: time.Minute}.ICEServers("s_x")
	require.NotEmpty(t, servers)
	var sawTURN bool
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") {
				sawTURN = true
				assert.NotEmpty(t, s.Username)
				assert.NotEmpty(t, s.Credential)
				assert.Contains(t, s.Username, ":s_x")
			}
		}
	}
	assert.True(t, sawTURN)
}

func TestLocalAddrsExcludesLoopback(t *testing.T) {
	addrs, err := LocalAddrs()
	require.NoError(t, err)
	for _, p := range addrs {
		assert.False(t, p.Addr().IsLoopback(), p.String())
		assert.True(t, p.IsSingleIP(), p.String())
	}
}

func TestTURNSecretPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateTURNSecret(dir)
	require.NoError(t, err)
	b, err := LoadOrCreateTURNSecret(dir)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.GreaterOrEqual(t, len(a), 32)
}

// TestExternalTURNCredentials: with external TURN URLs the relay hands out coturn REST
// credentials that verify with the shared secret — what coturn checks with use-auth-secret.
func TestExternalTURNCredentials(t *testing.T) {
	secret := []byte("coturn-static-auth-secret-0123")
	r, err := New(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ExternalTURN: &ExternalTURN{URLs: []string{"stun:turn.example.com:3478", "turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"}, Secret: secret}})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	assert.Nil(t, r.TURN(), "no embedded TURN")
	servers := externalICE{cfg: *r.cfg.ExternalTURN, ttl: time.Minute, now: time.Now}.ICEServers("s_abc")
	require.Len(t, servers, 2)
	assert.Equal(t, []string{"stun:turn.example.com:3478"}, servers[0].URLs)
	user, err := turn.VerifyCredentials([][]byte{secret}, servers[1].Username, servers[1].Credential, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "s_abc", user)

	for _, bad := range []*ExternalTURN{{}, {URLs: []string{"http://x"}, Secret: secret}, {URLs: []string{"turn:x"}, Secret: []byte("short")}} {
		_, err := New(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), ExternalTURN: bad})
		assert.Error(t, err)
	}
}

func TestTURNAdvertiseFilter(t *testing.T) {
	urls := []string{"stun:1.2.3.4:3478", "turn:1.2.3.4:3478?transport=udp", "turn:1.2.3.4:3478?transport=tcp", "turns:relay.example.com:443?transport=tcp"}
	only, err := ParseTURNTransports("tls")
	require.NoError(t, err)
	assert.Equal(t, []string{"stun:1.2.3.4:3478", "turns:relay.example.com:443?transport=tcp"}, filterTURNURLs(urls, only))
	only, err = ParseTURNTransports(" UDP , tcp,udp")
	require.NoError(t, err)
	assert.Equal(t, []TURNTransport{TURNOverUDP, TURNOverTCP}, only)
	assert.Equal(t, urls[:3], filterTURNURLs(urls, only))
	assert.Equal(t, urls, filterTURNURLs(urls, nil))
	_, err = ParseTURNTransports("quic")
	assert.Error(t, err)
}

func quietConfig(t *testing.T) Config {
	return Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestEmbeddedStore: without --database-url the relay keeps its store in the data directory,
// migrated at start, and refuses a schema newer than it knows.
func TestEmbeddedStore(t *testing.T) {
	cfg := quietConfig(t)
	r, err := New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	org := store.Organization{ID: store.NewID(), Name: "acme", Slug: "acme"}
	_, err = r.Store().CreateOrganization(ctx, org)
	require.NoError(t, err)
	require.NoError(t, r.Close())

	// A newer binary migrated this directory: this one must not touch it.
	db, err := sqlite.RawDB(cfg.DataDir)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = New(cfg)
	require.ErrorIs(t, err, store.ErrSchemaTooNew)
}

// TestPostgresStoreNeedsMigrate: with --database-url the relay only checks the schema;
// `kvmrelay migrate` (Migrate, as the owner) applies it, then the relay runs as the app role.
func TestPostgresStoreNeedsMigrate(t *testing.T) {
	owner := pg.Get(t).CreateDatabase(t)
	cfg := quietConfig(t)
	cfg.DatabaseURL = owner
	_, err := New(cfg)
	require.ErrorIs(t, err, store.ErrSchemaTooOld, "an unmigrated database is refused with the advice to migrate")

	role := "kvmrelay_app_" + strings.ToLower(strings.ReplaceAll(store.NewID()[:8], "-", ""))
	_, err = Migrate(context.Background(), "", owner, role, "app-password")
	require.NoError(t, err)
	u, err := url.Parse(owner)
	require.NoError(t, err)
	u.User = url.UserPassword(role, "app-password")
	cfg.DatabaseURL = u.String()
	r, err := New(cfg)
	require.NoError(t, err)
	_, err = r.Store().CreateOrganization(context.Background(), store.Organization{ID: store.NewID(), Name: "acme", Slug: "acme"})
	require.NoError(t, err)
	require.NoError(t, r.Close())
}

// TestAPIRoutesMatchOpenAPI: every route the relay serves under /api/v1 is in the OpenAPI
// document, and every documented operation is served.
func TestAPIRoutesMatchOpenAPI(t *testing.T) {
	r, err := New(quietConfig(t))
	require.NoError(t, err)
	defer r.Close()
	param := regexp.MustCompile(`:([a-z]+)`)
	seen := map[string]bool{}
	for _, rt := range r.app.GetRoutes(true) {
		p, ok := strings.CutPrefix(rt.Path, "/api/v1")
		if !ok || rt.Method == fiber.MethodHead {
			continue
		}
		seen[rt.Method+" "+param.ReplaceAllString(p, "{$1}")] = true
	}
	var served []string
	for k := range seen {
		served = append(served, k)
	}
	sort.Strings(served)
	assert.Equal(t, api.Documented(), served)
}

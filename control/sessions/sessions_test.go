package sessions

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// pg is the PostgreSQL cluster this test binary shares, started only by the tests that use it.
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop postgres:", err)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

type cuts struct {
	mu  sync.Mutex
	got map[string]string
}

func (c *cuts) EndSession(sid, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[sid] = reason
	return true
}

func (c *cuts) reason(sid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[sid]
}

// grants records what a manager told consoles' agents of their grants (its Regranter).
type grants struct {
	mu  sync.Mutex
	got map[string][]wire.Grant
}

func (g *grants) Regrant(_ context.Context, sid string, grant wire.Grant) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got[sid] = append(g.got[sid], grant)
	return nil
}

// of returns, and forgets, what sid was told.
func (g *grants) of(sid string) []wire.Grant {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.got[sid]
	delete(g.got, sid)
	return out
}

type fixture struct {
	grace  time.Duration // the managers' ReconnectGrace
	st     store.Store
	iss    *auth.Issuer
	clk    *testenv.Clock
	cut    *cuts
	grants *grants
	m      *Manager
	org    store.Organization
	device store.Device
	// ann and bob are operators ("user:<id>"): console rights are re-derived from the store.
	ann string
	bob string
}

func newFixture(t *testing.T) *fixture { return newFixtureGrace(t, 10*time.Minute) }

func newFixtureGrace(t *testing.T, grace time.Duration) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	_, err := sqlite.Migrate(ctx, dir)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return newFixtureOn(t, st, grace)
}

// newFixtureOn builds the fixture on st (SQLite, or PostgreSQL through the application role).
func newFixtureOn(t *testing.T, st store.Store, grace time.Duration) *fixture {
	t.Helper()
	ctx := context.Background()
	key, err := auth.GenerateKey()
	require.NoError(t, err)
	keys, err := auth.NewKeyring(key)
	require.NoError(t, err)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: "kvmrelay", Now: clk.Now})
	require.NoError(t, err)
	f := &fixture{grace: grace, st: st, iss: iss, clk: clk, cut: &cuts{got: map[string]string{}}, grants: &grants{got: map[string][]wire.Grant{}}}
	f.m = f.manager(t)
	f.org, err = st.CreateOrganization(ctx, store.Organization{Name: "Acme", Slug: "acme",
		Settings: store.OrgSettings{IdleTimeout: 5 * time.Minute, MaxSessionDuration: time.Hour}})
	require.NoError(t, err)
	require.NoError(t, st.Write(ctx, f.org.ID, func(tx store.Tx) error {
		f.device, err = tx.CreateDevice(ctx, store.Device{Name: "rack-1"})
		if err != nil {
			return err
		}
		for _, u := range []struct {
			email string
			to    *string
		}{{"ann@acme.example", &f.ann}, {"bob@acme.example", &f.bob}} {
			created, err := tx.CreateUser(ctx, store.User{Email: u.email, Role: store.RoleOperator, CreatedAt: clk.Now()})
			if err != nil {
				return err
			}
			*u.to = "user:" + created.ID
		}
		return nil
	}))
	return f
}

// manager makes a manager on the fixture's store, as a restarted relay would.
func (f *fixture) manager(t *testing.T) *Manager {
	// A reconnect grace longer than the organization's idle timeout leaves the idle timeout to
	// decide, as the tests written for it expect; lifecycle_test.go sets a short one.
	m, err := New(Config{Store: f.st, Issuer: f.iss, PublicURL: "https://relay.example", Disconnect: f.cut, Regrant: f.grants,
		Now: f.clk.Now, Interval: time.Hour, ReconnectGrace: f.grace})
	require.NoError(t, err)
	return m
}

// consoleClaims is what the relay derives from the console URL: redeem verifies the one-time
// login, and the console token carries the same claims.
func (f *fixture) consoleClaims(t *testing.T, started Started) auth.Claims {
	t.Helper()
	u, err := url.Parse(started.ConsoleURL)
	require.NoError(t, err)
	code, ok := strings.CutPrefix(u.Fragment, "code=")
	require.True(t, ok, "console URL carries the login in its fragment: %s", started.ConsoleURL)
	c, err := f.iss.Verify(code, auth.AudienceLogin)
	require.NoError(t, err)
	return c
}

func (f *fixture) session(t *testing.T, id string) store.ConsoleSession {
	var s store.ConsoleSession
	require.NoError(t, f.st.Read(context.Background(), f.org.ID, func(tx store.Tx) error {
		var err error
		s, err = tx.Session(context.Background(), id)
		return err
	}))
	return s
}

func (f *fixture) actions(t *testing.T) []store.AuditAction {
	var out []store.AuditAction
	require.NoError(t, f.st.Read(context.Background(), f.org.ID, func(tx store.Tx) error {
		es, err := tx.Audit(context.Background(), 0, 100)
		for _, e := range es {
			out = append(out, e.Record.Action)
		}
		return err
	}))
	return out
}

func TestStartAdmitStop(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	assert.Equal(t, store.SessionRequested, started.Session.Current)
	assert.Equal(t, store.SessionActive, started.Session.Desired)
	assert.Equal(t, f.clk.Now().Add(time.Hour), started.Session.ExpiresAt, "max duration from the org settings")
	assert.True(t, strings.HasPrefix(started.ConsoleURL, "https://relay.example/console/#code="))

	c := f.consoleClaims(t, started)
	assert.Equal(t, started.Session.ID, c.Session)
	assert.Equal(t, f.org.ID, c.Tenant)
	require.NoError(t, f.m.Redeemable(ctx, c))
	require.NoError(t, errOf(f.m.Admit(ctx, c)))
	assert.Equal(t, store.SessionActive, f.session(t, c.Session).Current)
	require.NoError(t, errOf(f.m.Admit(ctx, c)), "a reconnecting console is admitted again")

	for name, mutate := range map[string]func(*auth.Claims){
		"other device":    func(c *auth.Claims) { c.Device = store.NewID() },
		"other principal": func(c *auth.Claims) { c.Subject = "user:mallory" },
		"other session":   func(c *auth.Claims) { c.Session = store.NewID() },
	} {
		bad := c
		mutate(&bad)
		assert.ErrorIs(t, errOf(f.m.Admit(ctx, bad)), ErrMismatch, name)
	}

	stopped, err := f.m.Stop(ctx, f.org.ID, c.Session, "user:admin", "stopped by an admin")
	require.NoError(t, err)
	assert.Equal(t, store.SessionStopped, stopped.Current)
	assert.Equal(t, "stopped by an admin", f.cut.reason(c.Session), "the live console is cut")
	assert.ErrorIs(t, errOf(f.m.Check(ctx, c)), ErrEnded, "a console still connected elsewhere learns on its next check")
	assert.ErrorIs(t, errOf(f.m.Admit(ctx, c)), ErrEnded, "and cannot reconnect")
	assert.Equal(t, []store.AuditAction{store.AuditConsoleStart, store.AuditConsoleStop}, f.actions(t))
	n, err := f.st.VerifyAudit(ctx, f.org.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
}

func TestStartRefusesRevokedAndForeignDevice(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, err := f.m.Start(ctx, f.org.ID, f.ann, store.NewID(), wire.GrantControl)
	assert.ErrorIs(t, err, store.ErrNotFound)
	other, err := f.st.CreateOrganization(ctx, store.Organization{Name: "Other", Slug: "other"})
	require.NoError(t, err)
	_, err = f.m.Start(ctx, other.ID, f.ann, f.device.ID, wire.GrantControl)
	assert.ErrorIs(t, err, store.ErrNotFound, "another tenant's device does not exist for it")

	started, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	require.NoError(t, f.st.Write(ctx, f.org.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, f.device.ID, f.clk.Now()) }))
	_, err = f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	assert.ErrorIs(t, err, ErrDeviceRevoked)
	assert.ErrorIs(t, errOf(f.m.Admit(ctx, f.consoleClaims(t, started))), ErrDeviceRevoked)
}

// TestReconcilerSurvivesRestart: timeouts are decided from stored state, so a manager started
// after a restart ends what the previous one left hanging, and audits why.
func TestReconcilerSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	never, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	idle, err := f.m.Start(ctx, f.org.ID, f.ann, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	require.NoError(t, errOf(f.m.Admit(ctx, f.consoleClaims(t, idle))))
	busy, err := f.m.Start(ctx, f.org.ID, f.bob, f.device.ID, wire.GrantControl)
	require.NoError(t, err)
	busyClaims := f.consoleClaims(t, busy)
	require.NoError(t, errOf(f.m.Admit(ctx, busyClaims)))

	restarted := f.manager(t)
	f.clk.Add(4 * time.Minute)
	require.NoError(t, errOf(restarted.Check(ctx, busyClaims)))
	require.NoError(t, restarted.ReconcileAll(ctx))
	for _, id := range []string{never.Session.ID, idle.Session.ID, busy.Session.ID} {
		assert.False(t, f.session(t, id).Current.Final(), "nothing times out early")
	}

	f.clk.Add(2 * time.Minute) // idle: 6 min since admit > 5; busy: 2 min since its check
	require.NoError(t, restarted.ReconcileAll(ctx))
	assert.Equal(t, store.SessionActive, f.session(t, busy.Session.ID).Current)
	got := f.session(t, idle.Session.ID)
	assert.Equal(t, store.SessionStopped, got.Current)
	assert.Contains(t, got.Reason, "idle")
	assert.Contains(t, f.cut.reason(idle.Session.ID), "idle")

	f.clk.Add(5 * time.Minute) // 11 min: the link of `never` expired (10 min)
	require.NoError(t, errOf(restarted.Check(ctx, busyClaims)))
	require.NoError(t, restarted.ReconcileAll(ctx))
	got = f.session(t, never.Session.ID)
	assert.Equal(t, store.SessionError, got.Current)
	assert.Equal(t, "the console never connected", got.Reason)

	f.clk.Add(time.Hour) // past the maximum duration, however active
	require.NoError(t, restarted.ReconcileAll(ctx))
	got = f.session(t, busy.Session.ID)
	assert.Equal(t, store.SessionStopped, got.Current)
	assert.Equal(t, "maximum session duration reached", got.Reason)

	assert.Equal(t, []store.AuditAction{
		store.AuditConsoleStart, store.AuditConsoleStart, store.AuditConsoleStart,
		store.AuditConsoleTimeout, store.AuditConsoleTimeout, store.AuditConsoleTimeout,
	}, f.actions(t))
}

// TestRunStops: the reconciler loop ends with its context (goleak checks the goroutine).
func TestRunStops(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.m.Run(ctx); close(done) }()
	cancel()
	<-done
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	org := store.Organization{Settings: store.OrgSettings{IdleTimeout: 5 * time.Minute}}
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	base := store.ConsoleSession{Current: store.SessionActive, Desired: store.SessionActive, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}
	cases := []struct {
		name   string
		mutate func(*store.ConsoleSession)
		org    store.Organization
		want   store.SessionState
		ok     bool
		grace  time.Duration // 0: 2 h, out of the way of the idle timeout
		reason string
	}{
		{"active and busy", func(s *store.ConsoleSession) { s.LastActivity = ago(time.Minute) }, org, "", false, 0, ""},
		{"active and idle", func(s *store.ConsoleSession) { s.LastActivity = ago(5 * time.Minute) }, org, store.SessionStopped, true, 0, ""},
		{"idle timeout off", func(s *store.ConsoleSession) { s.LastActivity = ago(time.Hour) }, store.Organization{}, "", false, 0, ""},
		{"stop requested", func(s *store.ConsoleSession) { s.Desired = store.SessionStopped; s.LastActivity = ago(0) }, org, store.SessionStopped, true, 0, ""},
		{"expired", func(s *store.ConsoleSession) { s.ExpiresAt = now; s.LastActivity = ago(0) }, org, store.SessionStopped, true, 0, ""},
		{"requested, link fresh", func(s *store.ConsoleSession) { s.Current = store.SessionRequested; s.CreatedAt = now.Add(-time.Minute) }, org, "", false, 0, ""},
		{"requested, link expired", func(s *store.ConsoleSession) {
			s.Current = store.SessionRequested
			s.CreatedAt = now.Add(-10 * time.Minute)
		}, org, store.SessionError, true, 0, ""},
		{"console left, within the grace", func(s *store.ConsoleSession) { s.LastActivity = ago(44 * time.Second) }, store.Organization{}, "", false, 45 * time.Second, ""},
		{"console left, grace over", func(s *store.ConsoleSession) { s.LastActivity = ago(45 * time.Second) }, store.Organization{}, store.SessionStopped, true, 45 * time.Second, ReasonConsoleGone},
		{"grace shorter than the idle timeout", func(s *store.ConsoleSession) { s.LastActivity = ago(time.Minute) }, org, store.SessionStopped, true, 45 * time.Second, ReasonConsoleGone},
		{"idle timeout shorter than the grace", func(s *store.ConsoleSession) { s.LastActivity = ago(5 * time.Minute) }, org, store.SessionStopped, true, time.Hour, "idle timeout: no console connected"},
		{"admitted, never checked, grace over", func(s *store.ConsoleSession) { s.CreatedAt = now.Add(-time.Minute) }, store.Organization{}, store.SessionStopped, true, 45 * time.Second, ReasonConsoleGone},
		{"waiting for consent", func(s *store.ConsoleSession) {
			s.Current, s.ConsentExpiresAt, s.LastActivity = store.SessionConsentRequired, ago(-time.Second), ago(0)
		}, org, "", false, 0, ""},
		{"consent window closed", func(s *store.ConsoleSession) {
			s.Current, s.ConsentExpiresAt, s.LastActivity = store.SessionConsentRequired, ago(0), ago(0)
		}, org, store.SessionError, true, 0, ReasonConsentExpired},
		{"console left while waiting for consent", func(s *store.ConsoleSession) {
			s.Current, s.ConsentExpiresAt, s.LastActivity = store.SessionConsentRequired, ago(-time.Minute), ago(45*time.Second)
		}, store.Organization{}, store.SessionStopped, true, 45 * time.Second, ReasonConsoleGone},
		{"requested, link fresh, grace over", func(s *store.ConsoleSession) {
			s.Current = store.SessionRequested
			s.CreatedAt = now.Add(-5 * time.Minute)
		}, org, "", false, 45 * time.Second, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.mutate(&s)
			grace := tc.grace
			if grace == 0 {
				grace = 2 * time.Hour
			}
			v, ok := decide(s, tc.org, 10*time.Minute, grace, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, v.to)
			if tc.reason != "" {
				assert.Equal(t, tc.reason, v.reason)
			}
		})
	}
}

// errOf drops the grant Admit and Check return, for tests about the session's state.
func errOf(_ wire.Grant, err error) error { return err }

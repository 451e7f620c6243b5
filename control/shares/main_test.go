package shares

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cuts records the consoles the manager cut (its Disconnector), with the reason.
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

type fixture struct {
	dir    string
	st     store.Store
	iss    *auth.Issuer
	clk    *testenv.Clock
	cut    *cuts
	m      *sessions.Manager
	svc    *Service
	org    store.Organization
	device store.Device
	// Principals of the organization by role, as accounts.Principal (API callers).
	owner, operator, viewer, auditor accounts.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	_, err := sqlite.Migrate(ctx, dir)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	key, err := auth.GenerateKey()
	require.NoError(t, err)
	keys, err := auth.NewKeyring(key)
	require.NoError(t, err)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: "kvmrelay", Now: clk.Now})
	require.NoError(t, err)
	f := &fixture{dir: dir, st: st, iss: iss, clk: clk, cut: &cuts{got: map[string]string{}}}
	f.m, err = sessions.New(sessions.Config{Store: st, Issuer: iss, PublicURL: "https://relay.example", Disconnect: f.cut,
		Now: clk.Now, Interval: time.Hour, ReconnectGrace: time.Hour})
	require.NoError(t, err)
	f.svc, err = New(Config{Store: st, Sessions: f.m, PublicURL: "https://relay.example/", Now: clk.Now})
	require.NoError(t, err)
	f.org = f.newOrg(t, "acme")
	f.device = f.newDevice(t, f.org.ID, "rack-1", nil)
	f.owner = f.newUser(t, f.org.ID, "owner@acme.example", store.RoleOwner, nil)
	f.operator = f.newUser(t, f.org.ID, "op@acme.example", store.RoleOperator, nil)
	f.viewer = f.newUser(t, f.org.ID, "vera@acme.example", store.RoleViewer, nil)
	f.auditor = f.newUser(t, f.org.ID, "audrey@acme.example", store.RoleAuditor, nil)
	return f
}

func (f *fixture) newOrg(t *testing.T, slug string) store.Organization {
	t.Helper()
	o, err := f.st.CreateOrganization(context.Background(), store.Organization{Name: strings.ToUpper(slug), Slug: slug,
		Settings: store.OrgSettings{IdleTimeout: time.Hour, MaxSessionDuration: 8 * time.Hour}})
	require.NoError(t, err)
	return o
}

func (f *fixture) newDevice(t *testing.T, orgID, name string, labels map[string]string) store.Device {
	t.Helper()
	var d store.Device
	require.NoError(t, f.st.Write(context.Background(), orgID, func(tx store.Tx) error {
		var err error
		d, err = tx.CreateDevice(context.Background(), store.Device{Name: name, Labels: labels, CreatedAt: f.clk.Now()})
		return err
	}))
	return d
}

func (f *fixture) newUser(t *testing.T, orgID, email string, role store.Role, scope map[string]string) accounts.Principal {
	t.Helper()
	var u store.User
	require.NoError(t, f.st.Write(context.Background(), orgID, func(tx store.Tx) error {
		var err error
		u, err = tx.CreateUser(context.Background(), store.User{Email: email, Role: role, Scope: scope, CreatedAt: f.clk.Now()})
		return err
	}))
	return accounts.Principal{OrgID: orgID, Kind: accounts.KindUser, ID: u.ID, Email: email, Role: role, Scope: scope}
}

// caller is p calling the API (apiShareCaller's rule, which control/api uses).
func caller(p accounts.Principal) Caller {
	return Caller{Principal: p.String(),
		Fallback: func(d store.Device) wire.Grant { g, _ := p.GrantOn(d); return g },
		Admin:    func(d store.Device) bool { return p.Can(accounts.ManageDevices) && p.SeesDevice(d.Labels) }}
}

// start opens a console for p on the fixture's device, with the grant its role gives, and
// admits it (its console connected).
func (f *fixture) start(t *testing.T, p accounts.Principal) store.ConsoleSession {
	t.Helper()
	grant, err := p.GrantOn(f.device)
	require.NoError(t, err)
	started, err := f.m.Start(context.Background(), p.OrgID, p.String(), f.device.ID, grant)
	require.NoError(t, err)
	_, err = f.m.Admit(context.Background(), f.loginClaims(t, started.ConsoleURL))
	require.NoError(t, err)
	return f.session(t, started.Session.ID)
}

// loginClaims are the claims of the one-time login a console URL carries.
func (f *fixture) loginClaims(t *testing.T, consoleURL string) auth.Claims {
	t.Helper()
	u, err := url.Parse(consoleURL)
	require.NoError(t, err)
	code, ok := strings.CutPrefix(u.Fragment, "code=")
	require.True(t, ok, consoleURL)
	c, err := f.iss.Verify(code, auth.AudienceLogin)
	require.NoError(t, err)
	return c
}

func (f *fixture) session(t *testing.T, id string) store.ConsoleSession {
	t.Helper()
	var s store.ConsoleSession
	require.NoError(t, f.st.Read(context.Background(), f.org.ID, func(tx store.Tx) error {
		var err error
		s, err = tx.Session(context.Background(), id)
		return err
	}))
	return s
}

// tokenOf is the token a share link carries.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	for _, p := range []string{"share=", "guest="} {
		if tok, ok := strings.CutPrefix(u.Fragment, p); ok {
			return tok
		}
	}
	t.Fatalf("no token in %s", link)
	return ""
}

func (f *fixture) setGuestLinks(t *testing.T, on bool) {
	t.Helper()
	require.NoError(t, f.st.Write(context.Background(), f.org.ID, func(tx store.Tx) error {
		o, err := tx.Organization(context.Background())
		if err != nil {
			return err
		}
		o.Settings.GuestLinks = on
		return tx.UpdateSettings(context.Background(), o.Settings)
	}))
}

// audits returns the organization's audit records of action.
func (f *fixture) audits(t *testing.T, orgID string, action store.AuditAction) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	require.NoError(t, f.st.Read(context.Background(), orgID, func(tx store.Tx) error {
		es, err := tx.Audit(context.Background(), 0, 1000)
		for _, e := range es {
			if e.Record.Action == action {
				out = append(out, e.Record)
			}
		}
		return err
	}))
	return out
}

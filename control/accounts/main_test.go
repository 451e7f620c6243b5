package accounts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
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

// cheapArgon2 keeps tests fast; TestDefaultArgon2Params checks the production costs.
var cheapArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type env struct {
	svc   *Service
	store store.Store
	clock *testenv.Clock
	iss   *auth.Issuer
}

func sqliteStore(t *testing.T) store.Store {
	t.Helper()
	dir := t.TempDir()
	_, err := sqlite.Migrate(context.Background(), dir)
	require.NoError(t, err)
	s, err := sqlite.Open(context.Background(), dir)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func testIssuer(t testing.TB, clock *testenv.Clock) *auth.Issuer {
	t.Helper()
	key, err := auth.GenerateKey()
	require.NoError(t, err)
	ring, err := auth.NewKeyring(key)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: ring, Name: "https://relay.test", Now: clock.Now})
	require.NoError(t, err)
	return iss
}

// newEnv makes a Service over a fresh migrated SQLite store; mod adjusts its Config.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	return newEnvOn(t, sqliteStore(t), mod)
}

func newEnvOn(t *testing.T, st store.Store, mod func(*Config)) *env {
	t.Helper()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0).UTC())
	iss := testIssuer(t, clock)
	cfg := Config{
		Store: st, Issuer: iss, Now: clock.Now, Argon2: cheapArgon2, PublicURL: "https://relay.test/",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, svc.Close(context.Background())) })
	return &env{svc: svc, store: st, clock: clock, iss: iss}
}

const ownerPassword = "correct horse battery"

// owner bootstraps the organization "acme" and returns its owner as a principal.
func (e *env) owner(t *testing.T) (store.Organization, Principal) {
	t.Helper()
	org, u, err := e.svc.CreateOwner(context.Background(), "Acme", "acme", "owner@acme.test", ownerPassword)
	require.NoError(t, err)
	return org, Principal{OrgID: org.ID, Kind: KindUser, ID: u.ID, Email: u.Email, Role: u.Role}
}

// addUser makes a user directly in the store, with a hash by the service's hasher.
func (e *env) addUser(t *testing.T, orgID, email, password string, role store.Role, scope map[string]string) Principal {
	t.Helper()
	ctx := context.Background()
	h, err := e.svc.hasher.hash(ctx, password)
	require.NoError(t, err)
	var u store.User
	require.NoError(t, e.store.Write(ctx, orgID, func(tx store.Tx) error {
		u, err = tx.CreateUser(ctx, store.User{Email: email, PasswordHash: h, Role: role, Scope: scope, CreatedAt: e.clock.Now()})
		return err
	}))
	return Principal{OrgID: orgID, Kind: KindUser, ID: u.ID, Email: email, Role: role, Scope: scope}
}

func (e *env) user(t *testing.T, orgID, id string) store.User {
	t.Helper()
	ctx := context.Background()
	var u store.User
	require.NoError(t, e.store.Read(ctx, orgID, func(tx store.Tx) error {
		var err error
		u, err = tx.User(ctx, id)
		return err
	}))
	return u
}

// audits returns orgID's audit records in chain order, after checking the chain verifies.
func (e *env) audits(t *testing.T, orgID string) []store.AuditRecord {
	t.Helper()
	ctx := context.Background()
	var out []store.AuditRecord
	require.NoError(t, e.store.Read(ctx, orgID, func(tx store.Tx) error {
		entries, err := tx.Audit(ctx, 0, 10000)
		for _, en := range entries {
			out = append(out, en.Record)
		}
		return err
	}))
	_, err := e.store.VerifyAudit(ctx, orgID)
	require.NoError(t, err)
	return out
}

// auditsOf filters records by action.
func auditsOf(recs []store.AuditRecord, action store.AuditAction) []store.AuditRecord {
	var out []store.AuditRecord
	for _, r := range recs {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// OldSchema is a database migrated only to schema version 3, before device names were unique,
// as a test of a later migration against existing data sees it.
type OldSchema struct {
	// Exec runs raw SQL as the database owner, past any tenant scoping; ? marks parameters.
	Exec func(t *testing.T, query string, args ...any) int64
	// Time is t as the dialect binds a timestamp column.
	Time func(t time.Time) any
	// MigrateLatest applies the remaining migrations; Open then opens the store.
	MigrateLatest func(t *testing.T)
	Open          func(t *testing.T) store.Store
}

// DeviceNamesMigration: migration 5 makes device names unique per organization ignoring case
// and must not fail on a database that already holds duplicates: in each group one device
// keeps its name (the first created that is not revoked), the others are renamed
// "<name> (duplicate <id>)"; other organizations and distinct names are untouched.
func DeviceNamesMigration(t *testing.T, db OldSchema) {
	orgA, orgB := store.NewID(), store.NewID()
	for i, o := range []string{orgA, orgB} {
		db.Exec(t, `INSERT INTO organizations (id, name, slug, created_at) VALUES (?, ?, ?, ?)`,
			o, "org", []string{"org-a", "org-b"}[i], db.Time(epoch))
	}
	type dev struct {
		org, name string
		age       int // minutes after epoch it was created
		revoked   bool
		want      string // "" keeps the name; "dup" is renamed
	}
	devs := []dev{
		{orgA, "rack1", 0, true, "dup"},  // oldest, but revoked: yields the name
		{orgA, "Rack1", 1, false, ""},    // first created that is not revoked: keeps it
		{orgA, "RACK1", 2, false, "dup"}, // a later clash
		{orgA, "rack2", 3, false, ""},    // distinct
		{orgA, "gpu-é", 4, false, ""},    // only ASCII folds: "gpu-É" is another name
		{orgA, "gpu-É", 5, false, ""},    //
		{orgB, "rack1", 6, false, ""},    // another organization may have its own rack1
		{orgA, "old", 7, true, ""},       // alone and revoked: untouched
		{orgA, "twin", 8, true, ""},      // all revoked: the first keeps the name
		{orgA, "TWIN", 9, true, "dup"},   //
	}
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = store.NewID()
		var revoked any
		if d.revoked {
			revoked = db.Time(epoch.Add(time.Hour))
		}
		db.Exec(t, `INSERT INTO devices (org_id, id, name, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)`,
			d.org, ids[i], d.name, db.Time(epoch.Add(time.Duration(d.age)*time.Minute)), revoked)
	}

	db.MigrateLatest(t)
	s := db.Open(t)
	ctx := ctxT(t)
	for i, d := range devs {
		var got store.Device
		require.NoError(t, s.Read(ctx, d.org, func(tx store.Tx) error {
			var err error
			got, err = tx.Device(ctx, ids[i])
			return err
		}))
		want := d.name
		if d.want == "dup" {
			want = d.name + " (duplicate " + ids[i] + ")"
		}
		assert.Equal(t, want, got.Name, "device %d (%s)", i, d.name)
	}
	// From now on the database itself refuses a clash, whoever writes.
	err := s.Write(ctx, orgA, func(tx store.Tx) error {
		_, err := tx.CreateDevice(ctx, store.Device{Name: "rAcK1", CreatedAt: epoch})
		return err
	})
	assert.ErrorIs(t, err, store.ErrConflict)
}

// ConsentMigration runs migration 6 (the CONSENT_REQUIRED state) on a version-5 database
// holding a live session: the session survives with every field, and may then wait for
// consent.
func ConsentMigration(t *testing.T, db OldSchema) {
	org, dev, sid := store.NewID(), store.NewID(), store.NewID()
	db.Exec(t, `INSERT INTO organizations (id, name, slug, created_at) VALUES (?, ?, ?, ?)`, org, "org", "org-a", db.Time(epoch))
	db.Exec(t, `INSERT INTO devices (org_id, id, name, created_at) VALUES (?, ?, ?, ?)`, org, dev, "rack1", db.Time(epoch))
	db.Exec(t, `INSERT INTO console_sessions (org_id, id, device_id, principal, desired_state, current_state, reason,
		created_at, updated_at, started_at, ended_at, expires_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		org, sid, dev, "user:ann", "ACTIVE", "ACTIVE", "", db.Time(epoch), db.Time(epoch.Add(time.Second)),
		db.Time(epoch.Add(time.Second)), nil, db.Time(epoch.Add(time.Hour)), db.Time(epoch.Add(2*time.Second)))

	db.MigrateLatest(t)
	s := db.Open(t)
	ctx := ctxT(t)
	var got store.ConsoleSession
	require.NoError(t, s.Read(ctx, org, func(tx store.Tx) error {
		var err error
		got, err = tx.Session(ctx, sid)
		return err
	}))
	started, activity := us(epoch.Add(time.Second)), us(epoch.Add(2*time.Second))
	assert.Equal(t, store.ConsoleSession{ID: sid, OrgID: org, DeviceID: dev, Principal: "user:ann",
		Desired: store.SessionActive, Current: store.SessionActive, CreatedAt: us(epoch), UpdatedAt: us(epoch.Add(time.Second)),
		StartedAt: &started, ExpiresAt: us(epoch.Add(time.Hour)), LastActivity: &activity}, normalize(got))
	require.NoError(t, s.Write(ctx, org, func(tx store.Tx) error {
		_, err := tx.RequireConsent(ctx, sid, store.SessionActive, "enter the code", epoch.Add(5*time.Minute), epoch.Add(3*time.Second))
		return err
	}))
}

// normalize puts a session's times in UTC, as the test builds them.
func normalize(s store.ConsoleSession) store.ConsoleSession {
	u := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		v := p.UTC()
		return &v
	}
	s.CreatedAt, s.UpdatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC(), s.ExpiresAt.UTC()
	s.StartedAt, s.EndedAt, s.LastActivity, s.ConsentExpiresAt = u(s.StartedAt), u(s.EndedAt), u(s.LastActivity), u(s.ConsentExpiresAt)
	return s
}

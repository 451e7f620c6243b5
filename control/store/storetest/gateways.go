package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// guid is the n-th test AMT GUID, canonical lower case.
func guid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", n) }

func mustGateway(t *testing.T, s store.Store, org, name string) store.Device {
	t.Helper()
	var d store.Device
	write(t, s, org, func(tx store.Tx) error {
		var err error
		d, err = tx.CreateDevice(ctxT(t), store.Device{Name: name, Kind: store.DeviceGateway, CreatedAt: epoch})
		return err
	})
	return d
}

func mustServed(t *testing.T, s store.Store, org, gateway, name, target string) store.Device {
	t.Helper()
	var d store.Device
	write(t, s, org, func(tx store.Tx) error {
		var err error
		d, err = tx.CreateDevice(ctxT(t), store.Device{Name: name, GatewayID: gateway, Target: target, CreatedAt: epoch})
		return err
	})
	return d
}

// device reads one device of org.
func device(t *testing.T, s store.Store, org, id string) store.Device {
	t.Helper()
	var d store.Device
	require.NoError(t, s.Read(ctxT(t), org, func(tx store.Tx) error {
		var err error
		d, err = tx.Device(ctxT(t), id)
		return err
	}))
	return d
}

// testGatewayDevices: kinds, gateways and targets round-trip; what does not fit together is
// refused by the store whoever calls it; one machine per gateway and target; ServedDevices
// lists a gateway's devices, revoked ones too, and nothing of another organization.
func testGatewayDevices(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Other")
	plain := mustDevice(t, b.Store, o.ID, "rack1")
	gw := mustGateway(t, b.Store, o.ID, "mps-gw")
	gw2 := mustGateway(t, b.Store, o.ID, "mps-gw2")
	foreignGW := mustGateway(t, b.Store, other.ID, "their-gw")
	b2 := mustServed(t, b.Store, o.ID, gw.ID, "amt-b", guid(2))
	a1 := mustServed(t, b.Store, o.ID, gw.ID, "amt-a", "00000000-0000-4000-8000-00000000000A")
	mustServed(t, b.Store, o.ID, gw2.ID, "amt-other-gw", guid(2)) // another gateway may reach the same GUID

	assert.Equal(t, store.DeviceAgent, plain.Kind, "the default kind")
	assert.Equal(t, store.Device{ID: plain.ID, OrgID: o.ID, Name: "rack1", Labels: map[string]string{}, CreatedAt: us(epoch), Kind: store.DeviceAgent},
		normalizeDevice(device(t, b.Store, o.ID, plain.ID)))
	assert.Equal(t, store.DeviceGateway, device(t, b.Store, o.ID, gw.ID).Kind)
	got := device(t, b.Store, o.ID, a1.ID)
	assert.Equal(t, store.DeviceAgent, got.Kind)
	assert.Equal(t, gw.ID, got.GatewayID)
	assert.Equal(t, "00000000-0000-4000-8000-00000000000a", got.Target, "targets are kept in lower case")
	assert.True(t, got.Served())
	assert.False(t, plain.Served())

	create := func(org string, d store.Device) error {
		return b.Store.Write(ctx, org, func(tx store.Tx) error {
			d.CreatedAt = epoch
			_, err := tx.CreateDevice(ctx, d)
			return err
		})
	}
	cases := []struct {
		name string
		org  string
		d    store.Device
		want error
	}{
		{"unknown kind", o.ID, store.Device{Name: "x1", Kind: "toaster"}, store.ErrInvalid},
		{"gateway without target", o.ID, store.Device{Name: "x2", GatewayID: gw.ID}, store.ErrInvalid},
		{"target without gateway", o.ID, store.Device{Name: "x3", Target: guid(9)}, store.ErrInvalid},
		{"served gateway", o.ID, store.Device{Name: "x4", Kind: store.DeviceGateway, GatewayID: gw.ID, Target: guid(9)}, store.ErrInvalid},
		{"gateway not a gateway", o.ID, store.Device{Name: "x5", GatewayID: plain.ID, Target: guid(9)}, store.ErrInvalid},
		{"gateway unknown", o.ID, store.Device{Name: "x6", GatewayID: store.NewID(), Target: guid(9)}, store.ErrNotFound},
		{"gateway of another organization", o.ID, store.Device{Name: "x7", GatewayID: foreignGW.ID, Target: guid(9)}, store.ErrNotFound},
		{"gateway id malformed", o.ID, store.Device{Name: "x8", GatewayID: "gw-1", Target: guid(9)}, store.ErrInvalid},
		{"same gateway and target", o.ID, store.Device{Name: "x9", GatewayID: gw.ID, Target: guid(2)}, store.ErrConflict},
		{"same target in another case", o.ID, store.Device{Name: "x10", GatewayID: gw.ID, Target: "00000000-0000-4000-8000-00000000000a"}, store.ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, create(tc.org, tc.d), tc.want)
		})
	}

	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, b2.ID, epoch) })
	assert.ErrorIs(t, create(o.ID, store.Device{Name: "x11", GatewayID: gw.ID, Target: guid(2)}), store.ErrConflict,
		"a revoked served device still holds its target until it is deleted")
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		served, err := tx.ServedDevices(ctx, gw.ID)
		require.NoError(t, err)
		require.Len(t, served, 2)
		assert.Equal(t, []string{"amt-a", "amt-b"}, []string{served[0].Name, served[1].Name}, "by name, revoked included")
		assert.NotNil(t, served[1].RevokedAt)
		none, err := tx.ServedDevices(ctx, plain.ID)
		require.NoError(t, err)
		assert.Empty(t, none)
		foreign, err := tx.ServedDevices(ctx, foreignGW.ID)
		require.NoError(t, err)
		assert.Empty(t, foreign, "nothing of another organization")
		_, err = tx.ServedDevices(ctx, "gw-1")
		assert.ErrorIs(t, err, store.ErrInvalid)
		return nil
	}))
}

// normalizeDevice puts a device's times in UTC, as the test builds them.
func normalizeDevice(d store.Device) store.Device {
	d.CreatedAt = d.CreatedAt.UTC()
	return d
}

// testTargetLinks: a gateway's link reports mark the live devices it serves at the reported
// targets up or down, whatever the list's length, writing only what changes, and nothing
// else: not a revoked one, not another gateway's, not another organization's even when named
// by its gateway's id; LinkedTargets lists what is up.
func testTargetLinks(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Other")
	gw := mustGateway(t, b.Store, o.ID, "gw")
	gw2 := mustGateway(t, b.Store, o.ID, "gw2")
	foreignGW := mustGateway(t, b.Store, other.ID, "gw")

	// 10,000 reported targets; the served ones sit at the start, across chunk boundaries and
	// at the end of the list.
	const reported = 10_000
	targets := make([]string, reported)
	for i := range targets {
		targets[i] = guid(i + 1)
	}
	first := mustServed(t, b.Store, o.ID, gw.ID, "first", guid(1))
	middle := mustServed(t, b.Store, o.ID, gw.ID, "middle", guid(501))
	upper := mustServed(t, b.Store, o.ID, gw.ID, "upper", guid(7777))
	targets[7776] = "00000000-0000-4000-8000-000000001E61" // reported in upper case
	last := mustServed(t, b.Store, o.ID, gw.ID, "last", guid(reported))
	unreported := mustServed(t, b.Store, o.ID, gw.ID, "unreported", guid(reported+1))
	revoked := mustServed(t, b.Store, o.ID, gw.ID, "revoked", guid(2))
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, revoked.ID, epoch) })
	otherGateway := mustServed(t, b.Store, o.ID, gw2.ID, "other-gateway", guid(1))
	foreign := mustServed(t, b.Store, other.ID, foreignGW.ID, "foreign", guid(1))
	plain := mustDevice(t, b.Store, o.ID, "plain")
	require.Equal(t, "00000000-0000-4000-8000-000000001e61", guid(7777))
	assert.False(t, device(t, b.Store, o.ID, first.ID).LinkUp, "a new machine's link is down until reported")

	links := func(org, gateway string, up, down []string, at time.Time) int64 {
		t.Helper()
		var n int64
		write(t, b.Store, org, func(tx store.Tx) error {
			var err error
			n, err = tx.SetTargetLinks(ctx, gateway, up, down, at)
			return err
		})
		return n
	}
	linked := func(gateway string) []string {
		t.Helper()
		var out []string
		write(t, b.Store, o.ID, func(tx store.Tx) error {
			var err error
			out, err = tx.LinkedTargets(ctx, gateway)
			return err
		})
		return out
	}
	assert.Empty(t, linked(gw.ID))
	seen := epoch.Add(time.Minute)
	assert.Equal(t, int64(4), links(o.ID, gw.ID, targets, nil, seen), "rows changed")
	assert.Equal(t, []string{guid(1), guid(501), guid(7777), guid(reported)}, linked(gw.ID))
	for _, d := range []store.Device{first, middle, upper, last} {
		got := device(t, b.Store, o.ID, d.ID)
		assert.True(t, got.LinkUp, d.Name)
		require.NotNil(t, got.LastSeen, d.Name)
		assert.Equal(t, us(seen), got.LastSeen.UTC(), d.Name)
	}
	for _, d := range []store.Device{unreported, revoked, otherGateway, plain, gw} {
		got := device(t, b.Store, o.ID, d.ID)
		assert.False(t, got.LinkUp, d.Name)
		assert.Nil(t, got.LastSeen, d.Name)
	}
	assert.Zero(t, links(o.ID, gw.ID, targets, nil, seen.Add(time.Minute)), "nothing changed, nothing written")
	assert.Equal(t, us(seen), device(t, b.Store, o.ID, first.ID).LastSeen.UTC(), "last seen is when the link last changed")

	// Down: only what was up is written; last seen is when it went down.
	down := seen.Add(2 * time.Minute)
	assert.Equal(t, int64(1), links(o.ID, gw.ID, nil, []string{guid(501), guid(3)}, down))
	got := device(t, b.Store, o.ID, middle.ID)
	assert.False(t, got.LinkUp)
	assert.Equal(t, us(down), got.LastSeen.UTC(), "when it was last seen up")
	assert.Equal(t, int64(3), links(o.ID, gw.ID, []string{guid(501)}, []string{guid(7777), guid(reported)}, down), "middle up, upper and last down")
	for d, up := range map[*store.Device]bool{&first: true, &middle: true, &upper: false, &last: false} {
		assert.Equal(t, up, device(t, b.Store, o.ID, d.ID).LinkUp, d.Name)
	}
	assert.Equal(t, []string{guid(1), guid(501)}, linked(gw.ID))
	assert.Empty(t, linked(gw2.ID), "another gateway's machine")

	// Through Acme's transactions nothing of Other changes, even naming Other's gateway.
	assert.Zero(t, links(o.ID, foreignGW.ID, targets, nil, seen))
	assert.False(t, device(t, b.Store, other.ID, foreign.ID).LinkUp, "another organization's device with the same target")
	assert.Empty(t, linked(foreignGW.ID))

	// Nothing reported, nothing written; a malformed gateway id is refused before the query.
	assert.Zero(t, links(o.ID, gw.ID, nil, nil, seen))
	for _, f := range []func(tx store.Tx) error{
		func(tx store.Tx) error { _, err := tx.SetTargetLinks(ctx, "gw-1", targets[:1], nil, seen); return err },
		func(tx store.Tx) error { _, err := tx.LinkedTargets(ctx, "gw-1"); return err },
	} {
		assert.ErrorIs(t, b.Store.Write(ctx, o.ID, f), store.ErrInvalid)
	}
}

// testDeleteGateway: a revoked gateway is deleted with its served devices, which must all be
// revoked, and with their enrollment tokens, sessions and directory entries; other devices stay.
func testDeleteGateway(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	gw := mustGateway(t, b.Store, o.ID, "gw")
	keepGW := mustGateway(t, b.Store, o.ID, "gw2")
	s1 := mustServed(t, b.Store, o.ID, gw.ID, "amt1", guid(1))
	s2 := mustServed(t, b.Store, o.ID, gw.ID, "amt2", guid(2))
	kept := mustServed(t, b.Store, o.ID, keepGW.ID, "amt3", guid(1))
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		return tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "enroll-gw", DeviceID: gw.ID, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)})
	})
	sess := newSession(t, b, o.ID, s1.ID)
	keptSess := newSession(t, b, o.ID, kept.ID)

	del := func(id string) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error { return tx.DeleteDevice(ctx, id) })
	}
	revoke := func(ids ...string) {
		write(t, b.Store, o.ID, func(tx store.Tx) error {
			for _, id := range ids {
				if err := tx.RevokeDevice(ctx, id, epoch); err != nil {
					return err
				}
			}
			return nil
		})
	}
	revoke(gw.ID, s1.ID)
	assert.ErrorIs(t, del(gw.ID), store.ErrConflict, "amt2 is not revoked")
	assert.Equal(t, s1.ID, device(t, b.Store, o.ID, s1.ID).ID, "a refused delete deletes nothing")
	revoke(s2.ID)
	require.NoError(t, del(gw.ID))

	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		for _, id := range []string{gw.ID, s1.ID, s2.ID} {
			_, err := tx.Device(ctx, id)
			assert.ErrorIs(t, err, store.ErrNotFound)
		}
		_, err := tx.Session(ctx, sess.ID)
		assert.ErrorIs(t, err, store.ErrNotFound, "the served devices' sessions went with them")
		_, err = tx.Session(ctx, keptSess.ID)
		assert.NoError(t, err)
		all, err := tx.Devices(ctx)
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, []string{"amt3", "gw2"}, []string{all[0].Name, all[1].Name})
		return nil
	}))
	for _, id := range []string{gw.ID, s1.ID, s2.ID} {
		_, err := b.Store.Lookup(ctx, store.LookupDevice, id)
		assert.ErrorIs(t, err, store.ErrNotFound)
	}
	_, err := b.Store.Lookup(ctx, store.LookupEnrollment, "enroll-gw")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.Store.Lookup(ctx, store.LookupDevice, kept.ID)
	assert.NoError(t, err)
	// The machine can be added again, under a new gateway.
	gw3 := mustGateway(t, b.Store, o.ID, "gw")
	mustServed(t, b.Store, o.ID, gw3.ID, "amt1", guid(1))
}

// GatewayMigration runs migration 7 (device kinds, gateways and targets) on a version-6
// database holding a device with a session: the device becomes an agent served by nothing,
// keeps everything, and the new rules hold from then on.
func GatewayMigration(t *testing.T, db OldSchema) {
	org, dev, sid := store.NewID(), store.NewID(), store.NewID()
	db.Exec(t, `INSERT INTO organizations (id, name, slug, created_at) VALUES (?, ?, ?, ?)`, org, "org", "org-a", db.Time(epoch))
	db.Exec(t, `INSERT INTO devices (org_id, id, name, labels, created_at, last_seen, agent_version, capabilities) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		org, dev, "rack1", `{"site":"fra1"}`, db.Time(epoch), db.Time(epoch.Add(time.Minute)), "1.0", "{}")
	db.Exec(t, `INSERT INTO console_sessions (org_id, id, device_id, principal, desired_state, current_state, reason,
		created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		org, sid, dev, "user:ann", "ACTIVE", "REQUESTED", "", db.Time(epoch), db.Time(epoch), db.Time(epoch.Add(time.Hour)))

	db.MigrateLatest(t)
	s := db.Open(t)
	ctx := ctxT(t)
	seen := us(epoch.Add(time.Minute))
	got := device(t, s, org, dev)
	require.NotNil(t, got.LastSeen)
	lastSeen := got.LastSeen.UTC()
	got.CreatedAt, got.LastSeen = got.CreatedAt.UTC(), &lastSeen
	assert.Equal(t, store.Device{ID: dev, OrgID: org, Name: "rack1", Labels: map[string]string{"site": "fra1"}, CreatedAt: us(epoch),
		LastSeen: &seen, AgentVersion: "1.0", Capabilities: "{}", Kind: store.DeviceAgent}, got)
	require.NoError(t, s.Read(ctx, org, func(tx store.Tx) error {
		_, err := tx.Session(ctx, sid)
		return err
	}))

	gw := mustGateway(t, s, org, "gw")
	mustServed(t, s, org, gw.ID, "amt1", guid(1))
	err := s.Write(ctx, org, func(tx store.Tx) error {
		_, err := tx.CreateDevice(ctx, store.Device{Name: "amt2", GatewayID: gw.ID, Target: guid(1), CreatedAt: epoch})
		return err
	})
	assert.ErrorIs(t, err, store.ErrConflict, "the unique index is in place")
	err = s.Write(ctx, org, func(tx store.Tx) error {
		_, err := tx.CreateDevice(ctx, store.Device{Name: "amt3", GatewayID: dev, Target: guid(3), CreatedAt: epoch})
		return err
	})
	assert.ErrorIs(t, err, store.ErrInvalid, "an old device is an agent, not a gateway")

	// The gateways' AMT tags column: an old device has none and takes none.
	assert.Nil(t, device(t, s, org, dev).AMTTags)
	old := device(t, s, org, dev)
	old.AMTTags = []string{"rack7"}
	err = s.Write(ctx, org, func(tx store.Tx) error { return tx.UpdateDevice(ctx, old) })
	assert.ErrorIs(t, err, store.ErrInvalid, "an old device is an agent, and agents have no AMT tags")
	var tagged store.Device
	write(t, s, org, func(tx store.Tx) error {
		var err error
		tagged, err = tx.CreateDevice(ctx, store.Device{Name: "gw-tagged", Kind: store.DeviceGateway, AMTTags: []string{"rack7", "lab"}, CreatedAt: epoch})
		return err
	})
	assert.Equal(t, []string{"rack7", "lab"}, device(t, s, org, tagged.ID).AMTTags)
}

// testGatewayTags: a gateway's AMT tags round-trip verbatim and in their order through
// CreateDevice, Device and Devices; UpdateDevice writes them with name and labels, an empty
// list as none; a device that is not a gateway has none, whoever asks.
func testGatewayTags(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	plain := mustDevice(t, b.Store, o.ID, "rack1")
	untagged := mustGateway(t, b.Store, o.ID, "gw-none")
	hostile := []string{"rack7", "lab", `"; DROP TABLE devices; --`, "<img src=x onerror=alert(1)>", "ünïcode"}
	var gw store.Device
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		var err error
		gw, err = tx.CreateDevice(ctx, store.Device{Name: "gw", Kind: store.DeviceGateway, AMTTags: hostile, CreatedAt: epoch})
		return err
	})
	assert.Equal(t, hostile, gw.AMTTags)
	served := mustServed(t, b.Store, o.ID, gw.ID, "amt1", guid(1))

	assert.Equal(t, hostile, device(t, b.Store, o.ID, gw.ID).AMTTags, "verbatim, in order")
	assert.Nil(t, device(t, b.Store, o.ID, untagged.ID).AMTTags, "a gateway without tags")
	assert.Nil(t, device(t, b.Store, o.ID, plain.ID).AMTTags)
	assert.Nil(t, device(t, b.Store, o.ID, served.ID).AMTTags)
	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		all, err := tx.Devices(ctx)
		require.NoError(t, err)
		tags := map[string][]string{}
		for _, d := range all {
			tags[d.Name] = d.AMTTags
		}
		assert.Equal(t, map[string][]string{"amt1": nil, "gw": hostile, "gw-none": nil, "rack1": nil}, tags)
		return nil
	}))

	update := func(d store.Device) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error { return tx.UpdateDevice(ctx, d) })
	}
	renamed := gw
	renamed.Name, renamed.Labels, renamed.AMTTags = "gw-2", map[string]string{"site": "fra1"}, []string{"lab", "rack9"}
	require.NoError(t, update(renamed))
	got := device(t, b.Store, o.ID, gw.ID)
	assert.Equal(t, "gw-2", got.Name)
	assert.Equal(t, map[string]string{"site": "fra1"}, got.Labels)
	assert.Equal(t, []string{"lab", "rack9"}, got.AMTTags, "written with name and labels")
	renamed.AMTTags = []string{}
	require.NoError(t, update(renamed))
	assert.Nil(t, device(t, b.Store, o.ID, gw.ID).AMTTags, "an empty list is none")
	renamed.AMTTags = []string{"rack7"}
	require.NoError(t, update(renamed))
	renamed.AMTTags = nil
	require.NoError(t, update(renamed))
	assert.Nil(t, device(t, b.Store, o.ID, gw.ID).AMTTags, "UpdateDevice writes the tags, nil too")

	refused := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"create an agent with tags", func(tx store.Tx) error {
			_, err := tx.CreateDevice(ctx, store.Device{Name: "x1", AMTTags: []string{"rack7"}, CreatedAt: epoch})
			return err
		}, store.ErrInvalid},
		{"create a served device with tags", func(tx store.Tx) error {
			_, err := tx.CreateDevice(ctx, store.Device{Name: "x2", GatewayID: gw.ID, Target: guid(2), AMTTags: []string{"rack7"}, CreatedAt: epoch})
			return err
		}, store.ErrInvalid},
		{"tag an agent", func(tx store.Tx) error {
			d := plain
			d.AMTTags = []string{"rack7"}
			return tx.UpdateDevice(ctx, d)
		}, store.ErrInvalid},
		{"tag a served device", func(tx store.Tx) error {
			d := served
			d.AMTTags = []string{"rack7"}
			return tx.UpdateDevice(ctx, d)
		}, store.ErrInvalid},
		{"tag an unknown device", func(tx store.Tx) error {
			return tx.UpdateDevice(ctx, store.Device{ID: store.NewID(), Name: "x3", AMTTags: []string{"rack7"}})
		}, store.ErrNotFound},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, b.Store.Write(ctx, o.ID, tc.fn), tc.want)
		})
	}
	assert.Nil(t, device(t, b.Store, o.ID, plain.ID).AMTTags)
	assert.Nil(t, device(t, b.Store, o.ID, served.ID).AMTTags)
}

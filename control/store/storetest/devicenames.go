package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// testDeviceNamesUnique: within an organization a device name is taken whatever its ASCII
// case, on create and on rename, by the database itself; other organizations and a device
// keeping its own name are not affected.
func testDeviceNamesUnique(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	other := newOrg(t, b.Store, "Other")
	d := mustDevice(t, b.Store, o.ID, "Rack12-Node3")
	mustDevice(t, b.Store, other.ID, "rack12-node3")
	e := mustDevice(t, b.Store, o.ID, "gpu-é")

	create := func(name string) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			_, err := tx.CreateDevice(ctx, store.Device{Name: name, CreatedAt: epoch})
			return err
		})
	}
	for _, name := range []string{"Rack12-Node3", "rack12-node3", "RACK12-NODE3"} {
		assert.ErrorIs(t, create(name), store.ErrConflict, name)
	}
	assert.NoError(t, create("gpu-É"), "only ASCII letters fold, alike in both stores")

	rename := func(id, name string) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error {
			dev, err := tx.Device(ctx, id)
			if err != nil {
				return err
			}
			dev.Name = name
			return tx.UpdateDevice(ctx, dev)
		})
	}
	assert.ErrorIs(t, rename(e.ID, "RACK12-node3"), store.ErrConflict)
	assert.NoError(t, rename(d.ID, "rack12-node3"), "a device may change the case of its own name")
	assert.NoError(t, rename(e.ID, "gpu-e"))
}

// testDeleteDevice: only a revoked device can be deleted; with it go its enrollment tokens,
// sessions and directory entry, while the audit chain that names it stays intact.
func testDeleteDevice(t *testing.T, b Backend) {
	ctx := ctxT(t)
	o := newOrg(t, b.Store, "Acme")
	d := mustDevice(t, b.Store, o.ID, "rack1")
	keep := mustDevice(t, b.Store, o.ID, "rack2")
	write(t, b.Store, o.ID, func(tx store.Tx) error {
		for _, dev := range []store.Device{d, keep} {
			if err := tx.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "enroll-" + dev.ID, DeviceID: dev.ID,
				CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)}); err != nil {
				return err
			}
		}
		_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: epoch, Actor: "device:" + d.ID, Action: store.AuditDeviceEnroll, Target: "device:" + d.ID})
		return err
	})
	s := newSession(t, b, o.ID, d.ID)
	kept := newSession(t, b, o.ID, keep.ID)

	del := func(id string) error {
		return b.Store.Write(ctx, o.ID, func(tx store.Tx) error { return tx.DeleteDevice(ctx, id) })
	}
	assert.ErrorIs(t, del(d.ID), store.ErrConflict, "revoke it first")
	assert.ErrorIs(t, del(store.NewID()), store.ErrNotFound)
	write(t, b.Store, o.ID, func(tx store.Tx) error { return tx.RevokeDevice(ctx, d.ID, epoch) })
	require.NoError(t, del(d.ID))
	assert.ErrorIs(t, del(d.ID), store.ErrNotFound, "gone")

	require.NoError(t, b.Store.Read(ctx, o.ID, func(tx store.Tx) error {
		_, err := tx.Device(ctx, d.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = tx.Session(ctx, s.ID)
		assert.ErrorIs(t, err, store.ErrNotFound, "its sessions went with it")
		_, err = tx.Session(ctx, kept.ID)
		assert.NoError(t, err, "another device's stay")
		all, err := tx.Devices(ctx)
		require.NoError(t, err)
		require.Len(t, all, 1)
		assert.Equal(t, keep.ID, all[0].ID)
		es, err := tx.Audit(ctx, 0, 10)
		require.NoError(t, err)
		require.Len(t, es, 1)
		assert.Equal(t, "agent rack1", es[0].Record.ActorName, "the entry keeps the name it was written with")
		return nil
	}))
	_, err := b.Store.Lookup(ctx, store.LookupDevice, d.ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.Store.Lookup(ctx, store.LookupEnrollment, "enroll-"+d.ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	org, err := b.Store.Lookup(ctx, store.LookupEnrollment, "enroll-"+keep.ID)
	require.NoError(t, err)
	assert.Equal(t, o.ID, org)
	n, err := b.Store.VerifyAudit(ctx, o.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// The name is free again.
	mustDevice(t, b.Store, o.ID, "RACK1")
}

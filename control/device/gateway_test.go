package device

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
)

// fakeSessions records what the service asked to stop.
type fakeSessions struct {
	mu      sync.Mutex
	one     []string          // StopDevice's device ids
	many    []map[string]bool // StopDevices' sets
	reasons []string
}

func (f *fakeSessions) StopDevice(_ context.Context, _, deviceID, _, reason string, _ func(store.ConsoleSession) bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.one = append(f.one, deviceID)
	f.reasons = append(f.reasons, reason)
	return 0, nil
}

func (f *fakeSessions) StopDevices(_ context.Context, _ string, ids map[string]bool, _, reason string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.many = append(f.many, ids)
	f.reasons = append(f.reasons, reason)
	return 0, nil
}

type fakeAgents struct {
	mu  sync.Mutex
	cut []string
}

func (f *fakeAgents) DisconnectDevice(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = append(f.cut, id)
	return nil
}

type serviceEnv struct {
	st     store.Store
	svc    *Service
	ss     *fakeSessions
	agents *fakeAgents
	admin  accounts.Principal
}

func newServiceEnv(t *testing.T) serviceEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	_, err := sqlite.Migrate(ctx, dir)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	org, err := st.CreateOrganization(ctx, store.Organization{Name: "acme", Slug: "acme"})
	require.NoError(t, err)
	e := serviceEnv{st: st, ss: &fakeSessions{}, agents: &fakeAgents{},
		admin: accounts.Principal{OrgID: org.ID, Kind: accounts.KindUser, ID: store.NewID(), Role: store.RoleAdmin}}
	e.svc, err = NewService(ServiceConfig{Store: st, Sessions: e.ss, Agents: e.agents, Now: func() time.Time { return time.Unix(1_800_000_000, 0) },
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return e
}

func (e serviceEnv) create(t *testing.T, nd NewDevice) Device {
	t.Helper()
	d, err := e.svc.Create(context.Background(), e.admin, nd)
	require.NoError(t, err)
	return d
}

func (e serviceEnv) device(t *testing.T, id string) store.Device {
	t.Helper()
	var d store.Device
	require.NoError(t, e.st.Read(context.Background(), e.admin.OrgID, func(tx store.Tx) error {
		var err error
		d, err = tx.Device(context.Background(), id)
		return err
	}))
	return d
}

func (e serviceEnv) audit(t *testing.T, action store.AuditAction) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	require.NoError(t, e.st.Read(context.Background(), e.admin.OrgID, func(tx store.Tx) error {
		es, err := tx.Audit(context.Background(), 0, 1000)
		for _, en := range es {
			if en.Record.Action == action {
				out = append(out, en.Record)
			}
		}
		return err
	}))
	return out
}

// TestCreateGatewayAndServed: a gateway, and machines it serves named by the gateway's id or
// name (any ASCII case) with the GUID normalized; the audit entry says kind, gateway, target.
func TestCreateGatewayAndServed(t *testing.T) {
	e := newServiceEnv(t)
	gw := e.create(t, NewDevice{Name: "MPS-GW", Kind: store.DeviceGateway})
	assert.Equal(t, store.DeviceGateway, gw.Kind)
	byName := e.create(t, NewDevice{Name: "amt1", AMT: &AMT{Gateway: "mps-gw", GUID: "12345678-9ABC-DEF0-1234-56789ABCDEF0"}})
	byID := e.create(t, NewDevice{Name: "amt2", AMT: &AMT{Gateway: gw.ID, GUID: "12345678-9abc-def0-1234-56789abcdef1"}})
	plain := e.create(t, NewDevice{Name: "rack1"})

	assert.Equal(t, gw.ID, byName.GatewayID)
	assert.Equal(t, "12345678-9abc-def0-1234-56789abcdef0", byName.Target, "canonical lower case")
	assert.Equal(t, "MPS-GW", byName.GatewayName)
	assert.Equal(t, gw.ID, byID.GatewayID)
	assert.Equal(t, store.DeviceAgent, plain.Kind)

	created := e.audit(t, store.AuditDeviceCreate)
	require.Len(t, created, 4)
	assert.Equal(t, map[string]string{"name": "MPS-GW", "labels": "", "kind": "gateway"}, created[0].Details)
	assert.Equal(t, map[string]string{"name": "amt1", "labels": "", "kind": "agent", "gateway": gw.ID, "gateway_name": "MPS-GW",
		"target": "12345678-9abc-def0-1234-56789abcdef0"}, created[1].Details)
	assert.Equal(t, map[string]string{"name": "rack1", "labels": "", "kind": "agent"}, created[3].Details)

	list, err := e.svc.List(context.Background(), e.admin)
	require.NoError(t, err)
	names := map[string]string{}
	for _, d := range list {
		names[d.Name] = d.GatewayName
	}
	assert.Equal(t, map[string]string{"MPS-GW": "", "amt1": "MPS-GW", "amt2": "MPS-GW", "rack1": ""}, names)
	got, err := e.svc.Get(context.Background(), e.admin, byID.ID)
	require.NoError(t, err)
	assert.Equal(t, "MPS-GW", got.GatewayName)
}

// TestCreateServedRefused: what cannot be served is refused with the sentinel callers check
// and a sentence saying what to do; nothing is stored.
func TestCreateServedRefused(t *testing.T) {
	e := newServiceEnv(t)
	ctx := context.Background()
	gw := e.create(t, NewDevice{Name: "gw", Kind: store.DeviceGateway})
	e.create(t, NewDevice{Name: "fra-gw", Kind: store.DeviceGateway, Labels: map[string]string{"site": "fra1"}})
	revoked := e.create(t, NewDevice{Name: "old-gw", Kind: store.DeviceGateway})
	require.NoError(t, e.svc.Revoke(ctx, e.admin, revoked.ID))
	e.create(t, NewDevice{Name: "rack1"})
	e.create(t, NewDevice{Name: "amt1", AMT: &AMT{Gateway: "gw", GUID: "12345678-9abc-def0-1234-56789abcdef0"}})
	scoped := e.admin
	scoped.Scope = map[string]string{"site": "ams1"}
	before := len(e.audit(t, store.AuditDeviceCreate))

	tests := []struct {
		name string
		p    accounts.Principal
		nd   NewDevice
		want error
		msg  string
	}{
		{"bad GUID", e.admin, NewDevice{Name: "x", AMT: &AMT{Gateway: "gw", GUID: "12345678"}}, ErrBadGUID, `"12345678" is not an AMT GUID`},
		{"no gateway named", e.admin, NewDevice{Name: "x", AMT: &AMT{GUID: "12345678-9abc-def0-1234-56789abcdef9"}}, ErrNoGateway, "Name the gateway"},
		{"unknown gateway", e.admin, NewDevice{Name: "x", AMT: &AMT{Gateway: "nope", GUID: "12345678-9abc-def0-1234-56789abcdef9"}}, ErrNoGateway, `No gateway "nope" in your organization`},
		{"unknown gateway id", e.admin, NewDevice{Name: "x", AMT: &AMT{Gateway: store.NewID(), GUID: "12345678-9abc-def0-1234-56789abcdef9"}}, ErrNoGateway, "No gateway"},
		{"not a gateway", e.admin, NewDevice{Name: "x", AMT: &AMT{Gateway: "rack1", GUID: "12345678-9abc-def0-1234-56789abcdef9"}}, ErrNoGateway, `Device "rack1" is not a gateway`},
		{"gateway outside the scope", scoped, NewDevice{Name: "x", Labels: map[string]string{"site": "ams1"}, AMT: &AMT{Gateway: "fra-gw", GUID: "12345678-9abc-def0-1234-56789abcdef9"}}, ErrNoGateway, `No gateway "fra-gw"`},
		{"revoked gateway", e.admin, NewDevice{Name: "x", AMT: &AMT{Gateway: "old-gw", GUID: "12345678-9abc-def0-1234-56789abcdef9"}}, ErrGatewayRevoked, `Gateway "old-gw" is revoked`},
		{"same machine twice", e.admin, NewDevice{Name: "x", AMT: &AMT{Gateway: gw.ID, GUID: "12345678-9ABC-DEF0-1234-56789ABCDEF0"}}, ErrTargetTaken,
			`Gateway "gw" already serves the AMT machine 12345678-9abc-def0-1234-56789abcdef0 as device "amt1"`},
		{"served gateway", e.admin, NewDevice{Name: "x", Kind: store.DeviceGateway, AMT: &AMT{Gateway: "gw", GUID: "12345678-9abc-def0-1234-56789abcdef9"}}, store.ErrInvalid, "A gateway cannot be served"},
		{"unknown kind", e.admin, NewDevice{Name: "x", Kind: "toaster"}, store.ErrInvalid, `Device kind "toaster" is unknown`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Create(ctx, tc.p, tc.nd)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	assert.Len(t, e.audit(t, store.AuditDeviceCreate), before, "nothing refused was created")
}

// TestEnrollServedRefused: a served device has no agent to enroll; its gateway does.
func TestEnrollServedRefused(t *testing.T) {
	e := newServiceEnv(t)
	ctx := context.Background()
	gw := e.create(t, NewDevice{Name: "gw", Kind: store.DeviceGateway})
	served := e.create(t, NewDevice{Name: "amt1", AMT: &AMT{Gateway: "gw", GUID: "12345678-9abc-def0-1234-56789abcdef0"}})
	_, err := e.svc.IssueEnrollmentToken(ctx, e.admin, served.ID)
	require.ErrorIs(t, err, ErrServedDevice)
	assert.EqualError(t, err, `Device "amt1" is served by gateway "gw" and has no agent of its own; enroll the gateway instead (kvmctl devices enroll-token `+gw.ID+`).`)
	tok, err := e.svc.IssueEnrollmentToken(ctx, e.admin, gw.ID)
	require.NoError(t, err)
	assert.Equal(t, gw.ID, tok.DeviceID)
	assert.Len(t, e.audit(t, store.AuditEnrollmentToken), 1)
}

// TestRevokeGateway: revoking a gateway revokes the devices it serves in the same
// transaction, audited once with the count; their consoles are stopped with one call and the
// gateway's agent is cut. A served device revoked alone is like any device.
func TestRevokeGateway(t *testing.T) {
	e := newServiceEnv(t)
	ctx := context.Background()
	gw := e.create(t, NewDevice{Name: "gw", Kind: store.DeviceGateway})
	gw2 := e.create(t, NewDevice{Name: "gw2", Kind: store.DeviceGateway})
	s1 := e.create(t, NewDevice{Name: "amt1", AMT: &AMT{Gateway: "gw", GUID: "12345678-9abc-def0-1234-56789abcdef1"}})
	s2 := e.create(t, NewDevice{Name: "amt2", AMT: &AMT{Gateway: "gw", GUID: "12345678-9abc-def0-1234-56789abcdef2"}})
	s3 := e.create(t, NewDevice{Name: "amt3", AMT: &AMT{Gateway: "gw", GUID: "12345678-9abc-def0-1234-56789abcdef3"}})
	other := e.create(t, NewDevice{Name: "amt4", AMT: &AMT{Gateway: "gw2", GUID: "12345678-9abc-def0-1234-56789abcdef1"}})

	require.NoError(t, e.svc.Revoke(ctx, e.admin, s3.ID), "a served device alone")
	assert.Equal(t, []string{s3.ID}, e.ss.one)
	assert.NotNil(t, e.device(t, s3.ID).RevokedAt)
	assert.Nil(t, e.device(t, gw.ID).RevokedAt, "its gateway goes on")

	require.NoError(t, e.svc.Revoke(ctx, e.admin, gw.ID))
	for _, id := range []string{gw.ID, s1.ID, s2.ID, s3.ID} {
		assert.NotNil(t, e.device(t, id).RevokedAt, id)
	}
	assert.Nil(t, e.device(t, other.ID).RevokedAt, "another gateway's machine")
	assert.Nil(t, e.device(t, gw2.ID).RevokedAt)
	require.Len(t, e.ss.many, 1, "one call for the gateway and all it serves")
	assert.Equal(t, map[string]bool{gw.ID: true, s1.ID: true, s2.ID: true, s3.ID: true}, e.ss.many[0])
	assert.Equal(t, []string{s3.ID, gw.ID}, e.agents.cut, "the gateway's agent is cut")

	revokes := e.audit(t, store.AuditDeviceRevoke)
	require.Len(t, revokes, 2, "one entry for the gateway, none per served device")
	assert.Equal(t, "device:"+gw.ID, revokes[1].Target)
	assert.Equal(t, "gateway", revokes[1].Details["kind"])
	assert.Equal(t, "2", revokes[1].Details["served_revoked"], "amt3 was revoked already")
	assert.Contains(t, revokes[1].Details["note"], "no entries of their own")

	// Deleting the gateway takes what it serves.
	require.NoError(t, e.svc.Delete(ctx, e.admin, gw.ID))
	list, err := e.svc.List(ctx, e.admin)
	require.NoError(t, err)
	var left []string
	for _, d := range list {
		left = append(left, d.Name)
	}
	assert.Equal(t, []string{"amt4", "gw2"}, left)
	deleted := e.audit(t, store.AuditDeviceDelete)
	require.Len(t, deleted, 1)
	assert.Equal(t, map[string]string{"name": "gw", "kind": "gateway", "served_deleted": "3"}, deleted[0].Details)
}

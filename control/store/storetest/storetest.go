// Package storetest is the conformance suite every store.Store implementation must pass. Each
// implementation's tests call Run with a Backend factory; the suite knows nothing of the
// database behind it except what Backend exposes for tampering.
package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Backend is one fresh, migrated database as a test sees it.
type Backend struct {
	// Store is the store under test.
	Store store.Store
	// Open returns another, independent store instance (its own pool or *sql.DB) on the same
	// database, as a second relay process would have. The suite closes it.
	Open func(t *testing.T) store.Store
	// Exec runs raw SQL as the database owner, behind the store's back and past any tenant
	// scoping; ? marks parameters.
	Exec func(t *testing.T, query string, args ...any) int64
}

// Factory makes a Backend for one test; it registers its own cleanup.
type Factory func(t *testing.T) Backend

// Run runs the whole suite.
func Run(t *testing.T, newBackend Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"Organizations", testOrganizations},
		{"Users", testUsers},
		{"Devices", testDevices},
		{"APIKeys", testAPIKeys},
		{"RefreshTokens", testRefreshTokens},
		{"EnrollmentTokens", testEnrollmentTokens},
		{"EnrollmentSingleUseConcurrent", testEnrollmentConcurrent},
		{"SessionTransitions", testSessionTransitions},
		{"SessionCompareAndSet", testSessionCAS},
		{"SessionConsent", testSessionConsent},
		{"TenantIsolation", testTenantIsolation},
		{"WriteRollsBack", testWriteRollsBack},
		{"AuditAppendVerify", testAuditAppendVerify},
		{"AuditTamperNamesRow", testAuditTamper},
		{"AuditConcurrentTwoInstances", testAuditConcurrent},
		{"InvalidIDs", testInvalidIDs},
		{"Directory", testDirectory},
		{"AccountFields", testAccountFields},
		{"RecoveryCodes", testRecoveryCodes},
		{"Invitations", testInvitations},
		{"DeviceUpdateAndSessionActivity", testDeviceUpdateAndSessionActivity},
		{"AuditTruncation", testAuditTruncation},
		{"AuditActorNames", testAuditActorNames},
		{"DeviceNamesUnique", testDeviceNamesUnique},
		{"DeleteDevice", testDeleteDevice},
		{"SpendOnce", testSpendOnce},
		{"PasswordResets", testPasswordResets},
		{"UserSessionCutoff", testUserSessionCutoff},
		{"GatewayDevices", testGatewayDevices},
		{"TargetLinks", testTargetLinks},
		{"DeleteGateway", testDeleteGateway},
		{"GatewayTags", testGatewayTags},
		{"Shares", testShares},
		{"GuestLinksSetting", testGuestLinksSetting},
		{"RecordingSettings", testRecordingSettings},
		{"Recordings", testRecordings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

// epoch is a fixed time with sub-microsecond digits, to catch precision loss.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// us is t as the store keeps it.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newOrg(t *testing.T, s store.Store, name string) store.Organization {
	t.Helper()
	o, err := s.CreateOrganization(ctxT(t), store.Organization{Name: name, Slug: slugFor(name), CreatedAt: epoch})
	require.NoError(t, err)
	return o
}

// write runs fn in a write transaction and requires success.
func write(t *testing.T, s store.Store, org string, fn func(tx store.Tx) error) {
	t.Helper()
	require.NoError(t, s.Write(ctxT(t), org, fn))
}

func mustDevice(t *testing.T, s store.Store, org, name string) store.Device {
	t.Helper()
	var d store.Device
	write(t, s, org, func(tx store.Tx) error {
		var err error
		d, err = tx.CreateDevice(ctxT(t), store.Device{Name: name, CreatedAt: epoch})
		return err
	})
	return d
}

func mustUser(t *testing.T, s store.Store, org, email string) store.User {
	t.Helper()
	var u store.User
	write(t, s, org, func(tx store.Tx) error {
		var err error
		u, err = tx.CreateUser(ctxT(t), store.User{Email: email, Role: store.RoleOperator, CreatedAt: epoch})
		return err
	})
	return u
}

// slugFor makes a unique valid slug from a test's organization name.
func slugFor(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String() + "-" + store.NewID()[:8]
}

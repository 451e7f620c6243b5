package accounts

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/postgres"
)

// backends runs fn on a fresh Service over each store: embedded SQLite, and PostgreSQL as the
// unprivileged application role under Row-Level Security.
func backends(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newEnv(t, nil)) })
	t.Run("postgres", func(t *testing.T) {
		owner := pg.Get(t).CreateDatabase(t)
		const role, password = "kvmrelay_app_requiremfa", "app-secret"
		_, err := postgres.Migrate(context.Background(), owner, postgres.MigrateOptions{AppRole: role, AppPassword: password})
		require.NoError(t, err)
		u, err := url.Parse(owner)
		require.NoError(t, err)
		u.User = url.UserPassword(role, password)
		st, err := postgres.Open(context.Background(), u.String())
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, st.Close()) })
		fn(t, newEnvOn(t, st, nil))
	})
}

func ptr[T any](v T) *T { return &v }

// enroll turns TOTP on for p and returns the secret and recovery codes.
func (e *env) enroll(t *testing.T, p Principal) (string, []string) {
	t.Helper()
	ctx := context.Background()
	secret, _, err := e.svc.BeginTOTP(ctx, p)
	require.NoError(t, err)
	e.clock.Add(30 * time.Second) // a step no earlier code of this user used
	codes, err := e.svc.ConfirmTOTP(ctx, p, authenticator(t, secret, e.clock.Now()))
	require.NoError(t, err)
	return secret, codes
}

func TestRequireMFA(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		org, owner := e.owner(t)
		const memberPassword = "member password 1"
		e.addUser(t, org.ID, "vera@acme.test", memberPassword, store.RoleOperator, nil)
		admin := e.addUser(t, org.ID, "adam@acme.test", memberPassword, store.RoleAdmin, nil)
		key, _, err := e.svc.CreateAPIKey(ctx, owner, "ci", store.RoleOperator, nil)
		require.NoError(t, err)

		// A session from before the requirement, to see it restricted at once.
		before, err := login(e, "vera@acme.test", memberPassword)
		require.NoError(t, err)
		assert.False(t, before.MFAEnrollmentRequired)

		// Only the owner may require it, and only once their own account has MFA.
		_, err = e.svc.UpdateOrgSettings(ctx, admin, SettingsChange{RequireMFA: ptr(true)})
		require.ErrorIs(t, err, ErrForbidden)
		_, err = e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{RequireMFA: ptr(true)})
		require.ErrorIs(t, err, ErrInvalid, "an owner without MFA would restrict their own session")
		e.enroll(t, owner)
		o, err := e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{RequireMFA: ptr(true)})
		require.NoError(t, err)
		assert.True(t, o.Settings.RequireMFA)
		assert.Equal(t, 15*time.Minute, o.Settings.IdleTimeout, "other settings stay")

		changes := auditsOf(e.audits(t, org.ID), store.AuditSettingsChange)
		require.Len(t, changes, 1, "the refused attempts changed nothing and wrote nothing")
		assert.Equal(t, owner.String(), changes[0].Actor)
		assert.Equal(t, map[string]string{"require_mfa": "true", "changed": "require_mfa", "idle_timeout_s": "900", "max_session_s": "28800",
			"guest_links": "false", "recording": "off", "recording_keys": "false", "recording_retention_days": "30"}, changes[0].Details)

		// The member's existing session is now enrollment only; so is a new login.
		p, err := e.svc.Authenticate(ctx, before.Access)
		require.NoError(t, err)
		assert.True(t, p.MFAEnrollmentRequired)
		tok, err := login(e, "vera@acme.test", memberPassword)
		require.NoError(t, err, "the password still signs in: to a session that can enroll")
		assert.True(t, tok.MFAEnrollmentRequired)
		logins := auditsOf(e.audits(t, org.ID), store.AuditLogin)
		assert.Equal(t, "mfa_enrollment_only", logins[len(logins)-1].Details["session"])
		// A refresh keeps saying so.
		e.clock.Add(time.Second)
		ref, err := e.svc.Refresh(ctx, tok.Refresh, "192.0.2.10")
		require.NoError(t, err)
		assert.True(t, ref.MFAEnrollmentRequired)

		// The owner (with MFA) and the API key are not restricted.
		e.clock.Add(30 * time.Second)
		ownerTok, err := loginMFA(e, authenticator(t, e.secretOf(t, org.ID, owner.ID), e.clock.Now()), "")
		require.NoError(t, err)
		assert.False(t, ownerTok.MFAEnrollmentRequired)
		kp, err := e.svc.Authenticate(ctx, key)
		require.NoError(t, err)
		assert.False(t, kp.MFAEnrollmentRequired, "API keys have no second factor to enroll")

		// The member enrolls with the restricted session: the same token is whole at once.
		e.enroll(t, p)
		p, err = e.svc.Authenticate(ctx, ref.Access)
		require.NoError(t, err)
		assert.False(t, p.MFAEnrollmentRequired)

		// Turning it off lifts the restriction of members without MFA (the admin here).
		ap, err := e.svc.Authenticate(ctx, mustLogin(t, e, "adam@acme.test", memberPassword).Access)
		require.NoError(t, err)
		assert.True(t, ap.MFAEnrollmentRequired)
		// A restricted session may change its password; the new session is as restricted.
		changed, err := e.svc.ChangePassword(ctx, ap, memberPassword, memberPassword+" 2", "192.0.2.10")
		require.NoError(t, err)
		assert.True(t, changed.MFAEnrollmentRequired)
		_, err = e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{RequireMFA: ptr(false)})
		require.NoError(t, err)
		ap, err = e.svc.Authenticate(ctx, mustLogin(t, e, "adam@acme.test", memberPassword+" 2").Access)
		require.NoError(t, err)
		assert.False(t, ap.MFAEnrollmentRequired)
		changes = auditsOf(e.audits(t, org.ID), store.AuditSettingsChange)
		require.Len(t, changes, 2)
		assert.Equal(t, "false", changes[1].Details["require_mfa"])
	})
}

func mustLogin(t *testing.T, e *env, email, password string) Tokens {
	t.Helper()
	tok, err := login(e, email, password)
	require.NoError(t, err)
	return tok
}

// secretOf reads a user's TOTP secret as the service would use it (unsealed).
func (e *env) secretOf(t *testing.T, orgID, userID string) string {
	t.Helper()
	s, err := e.svc.totpSecret(e.user(t, orgID, userID))
	require.NoError(t, err)
	return s
}

func TestUpdateOrgSettingsTimeouts(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	org, owner := e.owner(t)
	o, err := e.svc.UpdateOrgSettings(ctx, owner, SettingsChange{IdleTimeout: ptr(time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, store.OrgSettings{IdleTimeout: time.Minute, MaxSessionDuration: 8 * time.Hour,
		Recording: store.RecordingOff, RecordingRetentionDays: store.DefaultRecordingRetentionDays}, o.Settings)
	changes := auditsOf(e.audits(t, org.ID), store.AuditSettingsChange)
	require.Len(t, changes, 1)
	assert.Equal(t, "idle_timeout_s", changes[0].Details["changed"])
	assert.Equal(t, "false", changes[0].Details["require_mfa"])
}

func TestRegenerateRecoveryCodes(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		org, owner := e.owner(t)
		_, err := e.svc.RegenerateRecoveryCodes(ctx, owner, "123456")
		require.ErrorIs(t, err, ErrInvalid, "MFA is off")
		secret, old := e.enroll(t, owner)

		_, err = e.svc.RegenerateRecoveryCodes(ctx, owner, old[0])
		require.ErrorIs(t, err, ErrInvalid, "a recovery code does not make new ones")
		_, err = e.svc.RegenerateRecoveryCodes(ctx, owner, authenticator(t, secret, e.clock.Now()))
		require.ErrorIs(t, err, ErrInvalid, "the code that confirmed enrollment is spent")
		e.clock.Add(30 * time.Second)
		fresh, err := e.svc.RegenerateRecoveryCodes(ctx, owner, authenticator(t, secret, e.clock.Now()))
		require.NoError(t, err)
		require.Len(t, fresh, 10)
		assert.NotContains(t, fresh, old[1])

		e.clock.Add(time.Minute)
		_, err = loginMFA(e, "", old[1])
		require.ErrorIs(t, err, ErrBadCredentials, "the old codes stopped working")
		e.clock.Add(10 * time.Minute) // past the lockout of that failure
		_, err = loginMFA(e, "", fresh[1])
		require.NoError(t, err)

		for _, p := range []Principal{
			{OrgID: org.ID, Kind: KindAPIKey, ID: store.NewID(), Role: store.RoleOwner},
			{OrgID: org.ID, Kind: KindOIDC, ID: "sub", Role: store.RoleOwner},
		} {
			_, err := e.svc.RegenerateRecoveryCodes(ctx, p, "123456")
			assert.ErrorIs(t, err, ErrForbidden)
		}
		changes := auditsOf(e.audits(t, org.ID), store.AuditMFAChange)
		assert.Equal(t, "recovery_codes_regenerated", changes[len(changes)-1].Details["change"])
	})
}

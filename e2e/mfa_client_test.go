package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
)

// TestClientRequireMFA runs what kvmctl mfa and kvmctl org set send against a real relay: the
// owner requires MFA (after enrolling their own), a member's login is restricted to enrolling
// and every other call is refused with the code kvmctl turns into "run kvmctl mfa enable";
// enrolling lifts it; recovery codes are regenerated and one of them turns MFA off.
func TestClientRequireMFA(t *testing.T) {
	s, tenants := newControlRelay(t, "acme")
	owner := tenants["acme"].api
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := func(secret string, at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		require.NoError(t, err)
		return c
	}

	inv, err := owner.InviteUser(ctx, client.Invite{Email: "vera@acme.example", Role: "operator"})
	require.NoError(t, err)
	link, err := url.Parse(inv.Link)
	require.NoError(t, err)
	acceptInvitation(t, s.url, strings.TrimPrefix(link.Fragment, "invite="), webPassword)

	on, off := true, false
	_, err = owner.UpdateOrgSettings(ctx, client.OrgSettings{RequireMFA: &on})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "turn on MFA for your own account first")
	en, err := owner.BeginTOTP(ctx)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(en.QRCode, "data:image/svg+xml;base64,"))
	_, err = owner.ConfirmTOTP(ctx, code(en.Secret, time.Now()))
	require.NoError(t, err)
	o, err := owner.UpdateOrgSettings(ctx, client.OrgSettings{RequireMFA: &on})
	require.NoError(t, err)
	assert.True(t, o.RequireMFA)
	o, err = owner.Org(ctx)
	require.NoError(t, err)
	assert.True(t, o.RequireMFA)
	assert.Equal(t, int64(900), o.IdleTimeoutS, "the other settings stay")

	member, err := client.New(client.Config{Server: s.url, ConfigDir: t.TempDir()})
	require.NoError(t, err)
	tok, err := member.Login(ctx, client.LoginRequest{Org: "acme", Email: "vera@acme.example", Password: webPassword})
	require.NoError(t, err)
	assert.True(t, tok.MFAEnrollmentRequired)
	me, err := member.Me(ctx)
	require.NoError(t, err)
	assert.True(t, me.MFAEnrollmentRequired)
	_, err = member.Devices(ctx)
	assert.True(t, client.IsMFAEnrollmentRequired(err), "%v", err)
	assert.Equal(t, client.ExitUnauthorized, client.ExitCode(err))

	men, err := member.BeginTOTP(ctx)
	require.NoError(t, err)
	codes, err := member.ConfirmTOTP(ctx, code(men.Secret, time.Now()))
	require.NoError(t, err)
	require.Len(t, codes, 10)
	_, err = member.Devices(ctx)
	require.NoError(t, err)
	me, err = member.Me(ctx)
	require.NoError(t, err)
	assert.True(t, me.MFAEnabled)
	assert.False(t, me.MFAEnrollmentRequired)

	// A step later (the relay accepts one of skew; the confirming step is spent).
	fresh, err := member.RegenerateRecoveryCodes(ctx, code(men.Secret, time.Now().Add(30*time.Second)))
	require.NoError(t, err)
	require.Len(t, fresh, 10)
	require.Error(t, member.DisableTOTP(ctx, codes[0]), "the old recovery codes stopped working")
	require.NoError(t, member.DisableTOTP(ctx, fresh[0]))
	_, err = member.Devices(ctx)
	assert.True(t, client.IsMFAEnrollmentRequired(err), "MFA off again while required: restricted again")

	_, err = owner.UpdateOrgSettings(ctx, client.OrgSettings{RequireMFA: &off})
	require.NoError(t, err)
	_, err = member.Devices(ctx)
	require.NoError(t, err)
}

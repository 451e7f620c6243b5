package accounts

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func TestAPIKeyFormat(t *testing.T) {
	plain, prefix, hash := newAPIKey()
	assert.Regexp(t, regexp.MustCompile(`^kvmk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`), plain)
	assert.True(t, strings.HasPrefix(plain, "kvmk_"+prefix+"_"))
	assert.NotContains(t, hash, plain[len("kvmk_"+prefix+"_"):], "only a hash of the secret is kept")
	p2, h2, err := parseAPIKey(plain)
	require.NoError(t, err)
	assert.Equal(t, prefix, p2)
	assert.Equal(t, hash, h2)

	secret := plain[len("kvmk_"+prefix+"_"):]
	for _, bad := range []string{
		"",
		"kvmk_",
		"kvmk_" + prefix,
		"kvmk_" + prefix + "_",
		"kvmk_" + strings.ToUpper(prefix) + "_" + secret,
		"kvmk_" + prefix[:15] + "_" + secret,
		"kvmk_" + prefix + "_" + secret[:42],
		"kvmk_" + prefix + "_" + secret + "A",
		"kvmr_" + prefix + "_" + secret,
		"kvmk_" + prefix + "_" + strings.Repeat("!", 43),
	} {
		_, _, err := parseAPIKey(bad)
		assert.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}
}

func TestRefreshTokenCarriesFamilyAndUser(t *testing.T) {
	fam, user := store.NewID(), store.NewID()
	tok, rt, err := newRefreshToken(fam, user)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(tok, "kvmr_"))
	got, err := parseRefreshToken(tok)
	require.NoError(t, err)
	assert.Equal(t, rt, got)
	assert.Equal(t, fam, got.familyID)
	assert.Equal(t, user, got.userID)

	tok2, rt2, err := newRefreshToken(fam, user)
	require.NoError(t, err)
	assert.NotEqual(t, tok, tok2)
	assert.NotEqual(t, rt.hash, rt2.hash)

	// Changing the family inside a token changes its hash: the store will not know it.
	raw, err := b64url.DecodeString(tok[5:])
	require.NoError(t, err)
	raw[0] ^= 1
	forged, err := parseRefreshToken("kvmr_" + b64url.EncodeToString(raw))
	require.NoError(t, err)
	assert.NotEqual(t, rt.hash, forged.hash)

	for _, bad := range []string{"", "kvmr_", tok[:len(tok)-1], "kvmk_" + tok[5:], tok + "AAAA", "kvmr_" + strings.Repeat("A", 200)} {
		_, err := parseRefreshToken(bad)
		assert.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}
	_, _, err = newRefreshToken("not-a-uuid", user)
	assert.Error(t, err)
}

func TestInviteToken(t *testing.T) {
	tok, hash := newInviteToken()
	got, err := parseInviteToken(tok)
	require.NoError(t, err)
	assert.Equal(t, hash, got)
	got, err = parseInviteToken(" " + tok + "\n")
	require.NoError(t, err)
	assert.Equal(t, hash, got)
	for _, bad := range []string{"", "kvmi_", tok[:len(tok)-2], "kvmr_" + tok[5:]} {
		_, err := parseInviteToken(bad)
		assert.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := newRecoveryCodes(10)
	require.Len(t, codes, 10)
	seen := map[string]bool{}
	for _, c := range codes {
		assert.Regexp(t, regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`), c)
		assert.False(t, seen[c])
		seen[c] = true
		assert.Equal(t, strings.ReplaceAll(c, "-", ""), normalizeRecoveryCode(c))
	}
	for _, tc := range []struct{ in, want string }{
		{"ABCDE-FGH12", "abcdefgh12"},
		{" abcde fgh12 ", "abcdefgh12"},
		{"abcde-fghI1", "abcdefgh11"},
		{"abcde-fghL0", "abcdefgh10"},
		{"abcde-fghO0", "abcdefgh00"},
		{"abcde-fgh1", ""},   // short
		{"abcde-fgh123", ""}, // long
		{"abcde-fghu1", ""},  // u is not in the alphabet
		{"abcde_fgh12", ""},  // underscore
		{"123456", ""},       // a TOTP code
		{"", ""},
	} {
		assert.Equal(t, tc.want, normalizeRecoveryCode(tc.in), "%q", tc.in)
	}
	u1, u2 := store.NewID(), store.NewID()
	assert.NotEqual(t, recoveryCodeHash(u1, "abcdefgh12"), recoveryCodeHash(u2, "abcdefgh12"), "bound to the user")
}

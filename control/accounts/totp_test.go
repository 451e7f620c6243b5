package accounts

import (
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatchTOTP(t *testing.T) {
	secret, url, err := generateTOTP("kvmrelay", "alice@acme.test")
	require.NoError(t, err)
	assert.Contains(t, url, "otpauth://totp/kvmrelay:alice@acme.test?")
	assert.Contains(t, url, "period=30")
	assert.Contains(t, url, "digits=6")
	assert.Len(t, secret, 32, "160 bits in base32")

	now := time.Unix(1_800_000_015, 0)
	step := totpStep(now)
	code := func(s int64) string {
		c, err := totpCode(secret, s)
		require.NoError(t, err)
		return c
	}
	// Cross-check against the library's own RFC 6238 implementation.
	libCode, err := totp.GenerateCode(secret, now)
	require.NoError(t, err)
	require.Equal(t, libCode, code(step))

	for _, tc := range []struct {
		name     string
		code     string
		lastStep int64
		want     int64
	}{
		{"current", code(step), 0, step},
		{"previous step (skew)", code(step - 1), 0, step - 1},
		{"next step (skew)", code(step + 1), 0, step + 1},
		{"two steps old", code(step - 2), 0, 0},
		{"two steps ahead", code(step + 2), 0, 0},
		{"replayed: step already used", code(step), step, 0},
		{"older than the last used", code(step - 1), step, 0},
		{"later than the last used", code(step + 1), step, step + 1},
		{"spaces trimmed", " " + code(step) + " ", 0, step},
		{"letters", "12a456", 0, 0},
		{"five digits", code(step)[:5], 0, 0},
		{"seven digits", code(step) + "0", 0, 0},
		{"empty", "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := matchTOTP(secret, tc.code, now, tc.lastStep)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want != 0, ok)
		})
	}
	_, ok := matchTOTP("", code(step), now, 0)
	assert.False(t, ok, "no secret, no match")
}

func TestStepGuard(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	step := totpStep(now)
	g := newStepGuard(2)
	assert.True(t, g.claim("u1", step, now))
	assert.False(t, g.claim("u1", step, now), "one code, one use")
	assert.False(t, g.claim("u1", step-1, now))
	assert.True(t, g.claim("u1", step+1, now))
	assert.True(t, g.claim("u2", step, now), "another user")
	g.release("u2", step)
	assert.True(t, g.claim("u2", step, now), "released after a failed login")

	// Full of live entries: the cap holds.
	assert.True(t, g.claim("u3", step, now))
	assert.LessOrEqual(t, len(g.steps), 2)
	// Expired entries go first.
	later := now.Add(5 * time.Minute)
	assert.True(t, g.claim("u4", totpStep(later), later))
	assert.True(t, g.claim("u5", totpStep(later), later))
	assert.Len(t, g.steps, 2)
}

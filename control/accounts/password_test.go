package accounts

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultArgon2Params(t *testing.T) {
	// OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 degree of parallelism.
	p := DefaultArgon2Params()
	assert.Equal(t, uint32(19456), p.Memory)
	assert.Equal(t, uint32(2), p.Time)
	assert.Equal(t, uint8(1), p.Threads)

	h, err := newHasher(p, 1, 8)
	require.NoError(t, err)
	enc, err := h.hash(context.Background(), "a long enough password")
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), enc)
	ok, rehash, err := h.verify(context.Background(), enc, "a long enough password")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash)
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h, err := newHasher(cheapArgon2, 2, 8)
	require.NoError(t, err)
	enc, err := h.hash(ctx, "correct horse battery")
	require.NoError(t, err)
	enc2, err := h.hash(ctx, "correct horse battery")
	require.NoError(t, err)
	assert.NotEqual(t, enc, enc2, "every hash has its own salt")

	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"correct horse battery ", false},
		{"", false},
	} {
		ok, rehash, err := h.verify(ctx, enc, tc.pw)
		require.NoError(t, err)
		assert.Equal(t, tc.want, ok, "%q", tc.pw)
		assert.False(t, rehash)
	}

	t.Run("needs rehash when the parameters changed", func(t *testing.T) {
		stronger := cheapArgon2
		stronger.Time = 2
		h2, err := newHasher(stronger, 1, 8)
		require.NoError(t, err)
		ok, rehash, err := h2.verify(ctx, enc, "correct horse battery")
		require.NoError(t, err)
		assert.True(t, ok, "an old hash still verifies")
		assert.True(t, rehash)
	})
}

func TestDecodePHCRejects(t *testing.T) {
	h, err := newHasher(cheapArgon2, 1, 8)
	require.NoError(t, err)
	good, err := h.hash(context.Background(), "correct horse battery")
	require.NoError(t, err)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for _, tc := range []struct{ name, enc string }{
		{"empty", ""},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"memory huge", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key},
		{"time zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"time huge", "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key},
		{"threads zero", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"threads overflow", "$argon2id$v=19$m=64,t=1,p=257$" + salt + "$" + key},
		{"parameters reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key},
		{"extra field", good + "$x"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, _, err := h.verify(context.Background(), tc.enc, "correct horse battery")
			assert.Error(t, err)
			assert.False(t, ok)
		})
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"11 characters", "abcdefghijk", false},
		{"12 characters", "abcdefghijkl", true},
		{"12 multi-byte characters", strings.Repeat("é", 12), true},
		{"11 multi-byte characters (22 bytes)", strings.Repeat("é", 11), false},
		{"1024 bytes", strings.Repeat("a", 1024), true},
		{"1025 bytes", strings.Repeat("a", 1025), false},
		{"invalid UTF-8", "abcdefghijkl\xff", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPassword(tc.pw)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalid)
			}
		})
	}
}

// TestHasherBoundsConcurrency: with every slot taken, a hash waits, and gives up with its context.
func TestHasherBoundsConcurrency(t *testing.T) {
	h, err := newHasher(cheapArgon2, 1, 8)
	require.NoError(t, err)
	require.NoError(t, h.acquire(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = h.hash(ctx, "correct horse battery")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	h.release(false)
	_, err = h.hash(context.Background(), "correct horse battery")
	assert.NoError(t, err)
}

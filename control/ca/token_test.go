package ca

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnrollmentTokenShape(t *testing.T) {
	tok, hash := NewEnrollmentToken()
	assert.True(t, strings.HasPrefix(tok, TokenPrefix))
	assert.Len(t, tok, tokenLen)
	want := sha256.Sum256([]byte(tok))
	assert.Equal(t, want[:], hash)
	require.NoError(t, CheckEnrollmentToken(tok, hash))
	tok2, _ := NewEnrollmentToken()
	assert.NotEqual(t, tok, tok2)
}

// TestCheckEnrollmentTokenRejects is SECURITY.md item 8 (empty, truncated) plus the AMT
// lesson: an empty secret on either side never authenticates.
func TestCheckEnrollmentTokenRejects(t *testing.T) {
	tok, hash := NewEnrollmentToken()
	other, _ := NewEnrollmentToken()
	body := tok[len(TokenPrefix):]
	cases := []struct {
		name      string
		presented string
		stored    []byte
		want      error
	}{
		{"empty", "", hash, ErrTokenMalformed},
		{"prefix only", TokenPrefix, hash, ErrTokenMalformed},
		{"truncated", tok[:len(tok)-1], hash, ErrTokenMalformed},
		{"truncated half", tok[:len(tok)/2], hash, ErrTokenMalformed},
		{"extended", tok + "A", hash, ErrTokenMalformed},
		{"wrong prefix", "kvmx_" + body, hash, ErrTokenMalformed},
		{"no prefix", body + "AAAAA", hash, ErrTokenMalformed},
		{"padding", TokenPrefix + body[:len(body)-1] + "=", hash, ErrTokenMalformed},
		{"not base64url", TokenPrefix + strings.Repeat("+", 43), hash, ErrTokenMalformed},
		{"garbage", strings.Repeat("\x00", tokenLen), hash, ErrTokenMalformed},
		{"another token", other, hash, ErrTokenUnknown},
		{"empty stored hash", tok, nil, ErrTokenUnknown},
		{"truncated stored hash", tok, hash[:16], ErrTokenUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, CheckEnrollmentToken(c.presented, c.stored), c.want)
		})
	}
}

func TestMemTokenStoreConsume(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s := NewMemTokenStore()
	_, live := NewEnrollmentToken()
	_, old := NewEnrollmentToken()
	_, unknown := NewEnrollmentToken()
	s.Add(live, "dev-1", now.Add(time.Hour))
	s.Add(old, "dev-2", now)

	id, err := s.Consume(ctx, live, now)
	require.NoError(t, err)
	assert.Equal(t, "dev-1", id)

	for _, c := range []struct {
		name string
		hash []byte
		want error
	}{
		{"replayed", live, ErrTokenUsed},
		{"expired", old, ErrTokenExpired},
		{"unknown", unknown, ErrTokenUnknown},
		{"empty", nil, ErrTokenUnknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Consume(ctx, c.hash, now)
			require.ErrorIs(t, err, c.want)
		})
	}
}

func TestMemTokenStoreConcurrentConsume(t *testing.T) {
	s := NewMemTokenStore()
	_, h := NewEnrollmentToken()
	now := time.Unix(1_800_000_000, 0)
	s.Add(h, "dev-1", now.Add(time.Hour))
	var ok, used atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			_, err := s.Consume(context.Background(), h, now)
			switch {
			case err == nil:
				ok.Add(1)
			case assert.ErrorIs(t, err, ErrTokenUsed):
				used.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), ok.Load())
	assert.Equal(t, int32(31), used.Load())
}

// Package leasetest is the behaviour every signaling.StreamLeases must have, run against each
// registry by its own tests.
package leasetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling"
)

// Run checks leases as two nodes see them, node n_a through a and n_b through b (one
// registry twice in process; two clients of one Redis): one holder per key, renewed only by
// it, released only by it, gone once its lifetime passes unrenewed (a dead node's machines are
// free again). Keys start with prefix.
func Run(t *testing.T, a, b signaling.StreamLeases, prefix string) {
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	key := func(name string) string { return prefix + name }
	tests := []struct {
		name string
		run  func(t *testing.T, k string)
	}{
		{"first claim wins; others see the holder", func(t *testing.T, k string) {
			holder, err := a.ClaimStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			assert.Equal(t, "n_a", holder)
			holder, err = b.ClaimStream(ctx, k, "n_b", ttl)
			require.NoError(t, err)
			assert.Equal(t, "n_a", holder, "a second node does not take a held stream")
			holder, err = a.StreamHolder(ctx, k)
			require.NoError(t, err)
			assert.Equal(t, "n_a", holder)
			holder, err = a.ClaimStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			assert.Equal(t, "n_a", holder, "the holder's claim again extends its own")
		}},
		{"only the holder renews", func(t *testing.T, k string) {
			_, err := a.ClaimStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			ok, err := b.RenewStream(ctx, k, "n_b", ttl)
			require.NoError(t, err)
			assert.False(t, ok)
			ok, err = a.RenewStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			assert.True(t, ok)
		}},
		{"renewed, the lease outlives its first lifetime", func(t *testing.T, k string) {
			_, err := a.ClaimStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			for range 4 {
				time.Sleep(ttl / 3)
				ok, err := a.RenewStream(ctx, k, "n_a", ttl)
				require.NoError(t, err)
				require.True(t, ok)
			}
			holder, err := b.ClaimStream(ctx, k, "n_b", ttl)
			require.NoError(t, err)
			assert.Equal(t, "n_a", holder)
		}},
		{"unrenewed, the lease expires and another node claims it", func(t *testing.T, k string) {
			_, err := a.ClaimStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				h, err := a.StreamHolder(ctx, k)
				return err == nil && h == ""
			}, 5*ttl, 10*time.Millisecond, "the dead holder's lease expires")
			ok, err := a.RenewStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			assert.False(t, ok, "an expired lease is not renewed")
			holder, err := b.ClaimStream(ctx, k, "n_b", ttl)
			require.NoError(t, err)
			assert.Equal(t, "n_b", holder)
			ok, err = a.RenewStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			assert.False(t, ok, "the old holder does not take it back")
		}},
		{"only the holder releases", func(t *testing.T, k string) {
			_, err := a.ClaimStream(ctx, k, "n_a", ttl)
			require.NoError(t, err)
			require.NoError(t, b.ReleaseStream(ctx, k, "n_b"))
			holder, err := a.StreamHolder(ctx, k)
			require.NoError(t, err)
			assert.Equal(t, "n_a", holder)
			require.NoError(t, a.ReleaseStream(ctx, k, "n_a"))
			holder, err = a.StreamHolder(ctx, k)
			require.NoError(t, err)
			assert.Empty(t, holder)
			holder, err = b.ClaimStream(ctx, k, "n_b", ttl)
			require.NoError(t, err)
			assert.Equal(t, "n_b", holder, "a released stream is claimed at once")
		}},
		{"keys are apart", func(t *testing.T, k string) {
			_, err := a.ClaimStream(ctx, k+"/1", "n_a", ttl)
			require.NoError(t, err)
			holder, err := b.ClaimStream(ctx, k+"/2", "n_b", ttl)
			require.NoError(t, err)
			assert.Equal(t, "n_b", holder)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, key(tt.name)) })
	}
}

package redisbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kvmrelay/kvmrelay/signaling"
)

// Stream leases are strings "<prefix>stream:<key>" holding the holder node's id, with the
// lease's lifetime as their TTL. Unlike sessions they are not in Refresh: the holder renews
// each lease itself (RenewStream), and stops when it lets the stream go or dies.

var _ signaling.StreamLeases = (*Registry)(nil)

func (r *Registry) streamKey(key string) string { return r.cfg.KeyPrefix + "stream:" + key }

// ClaimStream implements signaling.StreamLeases.
func (r *Registry) ClaimStream(ctx context.Context, key, node string, ttl time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	holder, err := claimLease.Run(ctx, r.client, []string{r.streamKey(key)}, node, leaseMillis(ttl)).Text()
	if err != nil {
		return "", fmt.Errorf("redisbus: claim stream %s: %w", key, err)
	}
	return holder, nil
}

// RenewStream implements signaling.StreamLeases.
func (r *Registry) RenewStream(ctx context.Context, key, node string, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	n, err := renewLease.Run(ctx, r.client, []string{r.streamKey(key)}, node, leaseMillis(ttl)).Int()
	if err != nil {
		return false, fmt.Errorf("redisbus: renew stream %s: %w", key, err)
	}
	return n == 1, nil
}

// ReleaseStream implements signaling.StreamLeases.
func (r *Registry) ReleaseStream(ctx context.Context, key, node string) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	if err := deleteIfEqual.Run(ctx, r.client, []string{r.streamKey(key)}, node).Err(); err != nil {
		return fmt.Errorf("redisbus: release stream %s: %w", key, err)
	}
	return nil
}

// StreamHolder implements signaling.StreamLeases.
func (r *Registry) StreamHolder(ctx context.Context, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	holder, err := r.client.Get(ctx, r.streamKey(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisbus: stream %s holder: %w", key, err)
	}
	return holder, nil
}

// leaseMillis is ttl in whole milliseconds, at least one (PX 0 is an error).
func leaseMillis(ttl time.Duration) string {
	return strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
}

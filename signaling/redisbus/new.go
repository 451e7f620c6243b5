package redisbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// New makes the Bus and Registry of one relay node and checks that Redis answers, so a wrong
// --redis-url fails at start rather than at the first console.
func New(ctx context.Context, cfg Config) (*Bus, *Registry, error) {
	full, opts, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if err := ping(ctx, opts, full); err != nil {
		return nil, nil, err
	}
	bus, err := NewBus(cfg)
	if err != nil {
		return nil, nil, err
	}
	reg, err := NewRegistry(cfg)
	if err != nil {
		return nil, nil, errors.Join(err, bus.Close())
	}
	return bus, reg, nil
}

func ping(ctx context.Context, opts *redis.Options, cfg Config) error {
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisbus: redis at %s does not answer: %w", opts.Addr, err)
	}
	return nil
}

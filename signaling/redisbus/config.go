package redisbus

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures a Bus and a Registry. Only URL is required.
type Config struct {
	// URL is the Redis server, e.g. redis://:password@host:6379/0 (rediss:// for TLS); its query
	// may carry go-redis options such as dial_timeout.
	URL string
	// KeyPrefix starts every key and channel name, so relays can share a Redis with other users.
	// Default "kvmrelay:".
	KeyPrefix string
	// QueueSize bounds the messages pending for one subscriber; a subscriber that falls further
	// behind is cut off. Default 256, as the in-process bus.
	QueueSize int
	// OpTimeout bounds one Redis operation (publish, subscribe, a registry call). Default 5s.
	OpTimeout time.Duration
	// HealthInterval is how long the pub/sub connection may stay silent before it is pinged; an
	// unanswered ping for as long again counts as a lost connection. Default 5s.
	HealthInterval time.Duration
	// TTL is the lifetime of session and presence records; the Registry refreshes what this node
	// holds every TTL/3, so the records of a node that dies vanish within TTL. Default 30s.
	TTL    time.Duration
	Logger *slog.Logger
}

const (
	defaultPrefix         = "kvmrelay:"
	defaultQueueSize      = 256
	defaultOpTimeout      = 5 * time.Second
	defaultHealthInterval = 5 * time.Second
	defaultTTL            = 30 * time.Second
)

// withDefaults fills unset fields and checks the URL.
func (c Config) withDefaults() (Config, *redis.Options, error) {
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only the reason.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return c, nil, fmt.Errorf("redisbus: parse redis URL: %w", err)
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = defaultPrefix
	}
	if c.QueueSize <= 0 {
		c.QueueSize = defaultQueueSize
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = defaultOpTimeout
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = defaultHealthInterval
	}
	if c.TTL <= 0 {
		c.TTL = defaultTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, opts, nil
}

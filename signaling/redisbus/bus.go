package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kvmrelay/kvmrelay/signaling"
)

// Bus is a signaling.Bus over Redis pub/sub, shared by every relay node using the same Redis and
// key prefix.
//
// One Bus holds one pub/sub connection for all its subscribers, with a Redis subscription per
// topic counted by its local subscribers (SUBSCRIBE on the first, UNSUBSCRIBE after the last).
// A relay has two subscriptions per console and one per agent; a connection each would cost
// thousands of Redis connections per node, each with its own reader goroutine and health check.
// The price is that one failed connection cuts every subscriber of the node at once, which is
// what a Redis failure does to them anyway.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	client *redis.Client

	ctx    context.Context // ends with Close; bounds the reader
	cancel context.CancelFunc
	wg     sync.WaitGroup // the reader and one watcher per subscriber

	mu     sync.Mutex
	closed bool
	conn   *psConn // the current pub/sub connection; replaced when it fails
	down   bool    // the last connection failed and no message arrived since (for logs)
}

var _ signaling.Bus = (*Bus)(nil)

// NewBus makes a Bus with its own Redis client; Close releases both. It does not wait for Redis:
// until Redis answers, Publish and Subscribe fail.
func NewBus(cfg Config) (*Bus, error) {
	cfg, opts, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{cfg: cfg, log: cfg.Logger.With("component", "redisbus"), client: redis.NewClient(opts), ctx: ctx, cancel: cancel}
	b.conn = b.newConn()
	b.wg.Go(b.run)
	return b, nil
}

// channel is the Redis channel of a bus topic.
func (b *Bus) channel(topic string) string { return b.cfg.KeyPrefix + "bus:" + topic }

// Publish implements signaling.Bus: one PUBLISH, delivered to the subscribers every node has at
// that moment.
func (b *Bus) Publish(ctx context.Context, topic string, msg []byte) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return signaling.ErrBusClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.OpTimeout)
	defer cancel()
	if err := b.client.Publish(ctx, b.channel(topic), msg).Err(); err != nil {
		return fmt.Errorf("redisbus: publish to %s: %w", topic, err)
	}
	return nil
}

// Subscribe implements signaling.Bus. It returns once Redis has confirmed the subscription, so
// a message published afterwards, from any node, reaches it. The channel closes when ctx ends,
// when the subscriber has QueueSize messages pending and another arrives, when the pub/sub
// connection fails (messages published meanwhile are lost: the closed channel says so), or with
// Close.
func (b *Bus) Subscribe(ctx context.Context, topic string) (<-chan []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisbus: subscribe to %s: %w", topic, err)
	}
	channel := b.channel(topic)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, signaling.ErrBusClosed
	}
	c := b.conn
	t := c.topics[channel]
	if t == nil {
		t = &topicSubs{subs: make(map[*subscriber]struct{}), ready: make(chan struct{})}
		// The write uses the Bus's context, not the caller's: a write cut short by one caller
		// would leave the shared connection unusable for all.
		if err := b.sendLocked(c, channel, t); err != nil {
			b.mu.Unlock()
			return nil, fmt.Errorf("redisbus: subscribe to %s: %w", topic, err)
		}
		c.topics[channel] = t
	}
	s := &subscriber{ch: make(chan []byte, b.cfg.QueueSize), gone: make(chan struct{}), channel: channel, conn: c}
	t.subs[s] = struct{}{}
	b.wg.Go(func() { b.watch(ctx, s) })
	b.mu.Unlock()

	timer := time.NewTimer(b.cfg.OpTimeout)
	defer timer.Stop()
	select {
	case <-t.ready:
		return s.ch, nil
	case <-s.gone:
		return nil, fmt.Errorf("redisbus: subscribe to %s: %w", topic, b.failure(c))
	case <-ctx.Done():
		// watch removes the subscriber.
		return nil, fmt.Errorf("redisbus: subscribe to %s: %w", topic, ctx.Err())
	case <-timer.C:
		select {
		case <-t.ready: // confirmed just now
			return s.ch, nil
		default:
		}
		// A connection that cannot confirm a subscription in OpTimeout is not working.
		b.fail(c, errors.New("no subscription confirmation from redis"))
		return nil, fmt.Errorf("redisbus: subscribe to %s: %w", topic, b.failure(c))
	}
}

// watch ends a subscription when its context ends.
func (b *Bus) watch(ctx context.Context, s *subscriber) {
	select {
	case <-s.gone:
	case <-ctx.Done():
		b.mu.Lock()
		b.cutLocked(s)
		b.mu.Unlock()
	}
}

// Close ends every subscription, stops the reader and closes the Redis client.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.failLocked(b.conn, signaling.ErrBusClosed)
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	if err := b.client.Close(); err != nil {
		return fmt.Errorf("redisbus: close bus client: %w", err)
	}
	return nil
}

package redisbus

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// psConn is one pub/sub connection and the subscriptions made on it. When it fails it is closed
// and replaced, never reconnected: go-redis would reconnect and resubscribe silently, and the
// subscribers would miss whatever was published in between without knowing it.
type psConn struct {
	ps     *redis.PubSub
	topics map[string]*topicSubs // Redis channel → local subscribers
	// pending lists, per channel and in the order they were written, the SUBSCRIBE (non-nil:
	// the topic waiting for it) and UNSUBSCRIBE (nil) commands Redis has not confirmed yet.
	// Redis answers one connection's commands in order, so each confirmation pops the head.
	pending map[string][]*topicSubs
	err     error // why the connection was given up; nil while it is current
}

// topicSubs is the local subscribers of one channel.
type topicSubs struct {
	subs  map[*subscriber]struct{}
	ready chan struct{} // closed when Redis confirms the SUBSCRIBE
}

// subscriber is one Subscribe call.
type subscriber struct {
	ch      chan []byte
	gone    chan struct{} // closed with ch
	channel string
	conn    *psConn
}

func (s *subscriber) close() {
	close(s.ch)
	close(s.gone)
}

func (s *subscriber) closed() bool {
	select {
	case <-s.gone:
		return true
	default:
		return false
	}
}

func (b *Bus) newConn() *psConn {
	// No channels yet: go-redis connects on first use (the reader's first ping).
	return &psConn{
		ps:      b.client.Subscribe(b.ctx),
		topics:  make(map[string]*topicSubs),
		pending: make(map[string][]*topicSubs),
	}
}

// failure is why c was given up.
func (b *Bus) failure(c *psConn) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.err == nil {
		return errors.New("subscription ended")
	}
	return c.err
}

// sendLocked writes SUBSCRIBE (t non-nil) or UNSUBSCRIBE (t nil) for channel on c. A failed
// write fails the connection. Holding b.mu across the write keeps pending in wire order.
func (b *Bus) sendLocked(c *psConn, channel string, t *topicSubs) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.OpTimeout)
	defer cancel()
	c.pending[channel] = append(c.pending[channel], t)
	var err error
	if t != nil {
		err = c.ps.Subscribe(ctx, channel)
	} else {
		err = c.ps.Unsubscribe(ctx, channel)
	}
	if err != nil {
		b.failLocked(c, err)
		return err
	}
	return nil
}

// cutLocked ends one subscriber, and the Redis subscription with its last local subscriber.
func (b *Bus) cutLocked(s *subscriber) {
	if s.closed() {
		return
	}
	s.close()
	c := s.conn
	if c.err != nil {
		return
	}
	t := c.topics[s.channel]
	if t == nil {
		return
	}
	delete(t.subs, s)
	if len(t.subs) == 0 {
		delete(c.topics, s.channel)
		_ = b.sendLocked(c, s.channel, nil)
	}
}

// fail gives up c (if it is still current) and cuts all its subscribers.
func (b *Bus) fail(c *psConn, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failLocked(c, err)
}

func (b *Bus) failLocked(c *psConn, err error) {
	if c.err != nil {
		return
	}
	if err == nil {
		err = errors.New("connection closed")
	}
	c.err = err
	cut := 0
	for _, t := range c.topics {
		for s := range t.subs {
			s.close()
			cut++
		}
	}
	c.topics, c.pending = nil, nil
	_ = c.ps.Close()
	if b.closed {
		return
	}
	if !b.down {
		b.log.Warn("redis pub/sub connection lost; its subscribers are cut off and their peers will reconnect",
			"subscribers", cut, "err", err)
		b.down = true
	}
	b.conn = b.newConn()
}

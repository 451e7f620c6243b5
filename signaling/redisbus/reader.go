package redisbus

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reconnection backoff while Redis is unreachable.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// run reads the current pub/sub connection until the Bus closes; when a connection fails it
// is replaced, after a backoff if it never worked.
func (b *Bus) run() {
	var delay time.Duration
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		c := b.conn
		b.mu.Unlock()

		worked, err := b.read(c)
		b.fail(c, err)
		if worked {
			delay = 0
		} else {
			delay = min(max(2*delay, minBackoff), maxBackoff)
		}
		t := time.NewTimer(delay)
		select {
		case <-b.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// read handles what c receives until it fails, pinging it when it is quiet. worked reports
// whether Redis answered at all.
func (b *Bus) read(c *psConn) (worked bool, err error) {
	// The first ping opens the connection, so a Redis that is back is noticed (and logged) even
	// by a node with no subscribers.
	if err := c.ps.Ping(b.ctx); err != nil {
		return false, fmt.Errorf("ping: %w", err)
	}
	pinged := true
	for {
		msg, err := c.ps.ReceiveTimeout(b.ctx, b.cfg.HealthInterval)
		if err != nil {
			if !isTimeout(err) {
				return worked, err
			}
			if pinged {
				return worked, errors.New("redis did not answer a ping")
			}
			if err := c.ps.Ping(b.ctx); err != nil {
				return worked, fmt.Errorf("ping: %w", err)
			}
			pinged = true
			continue
		}
		pinged = false
		if !worked {
			worked = true
			b.restored()
		}
		switch m := msg.(type) {
		case *redis.Message:
			b.deliver(c, m)
		case *redis.Subscription:
			if err := b.confirm(c, m); err != nil {
				return worked, err
			}
		case *redis.Pong:
		default:
			return worked, fmt.Errorf("unexpected pub/sub reply %T", msg)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// restored logs the first answer after a failure.
func (b *Bus) restored() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		b.down = false
		b.log.Info("redis pub/sub connection restored")
	}
}

// deliver queues m for the local subscribers of its channel, cutting off those whose queue is
// full: the in-process bus's contract, memory stays bounded by QueueSize per subscriber.
func (b *Bus) deliver(c *psConn, m *redis.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.err != nil {
		return
	}
	t := c.topics[m.Channel]
	if t == nil {
		return
	}
	msg := []byte(m.Payload)
	for s := range t.subs {
		select {
		case s.ch <- msg:
		default:
			b.log.Warn("bus subscriber too slow; cut off", "channel", m.Channel)
			b.cutLocked(s)
		}
	}
}

// confirm matches a (un)subscribe confirmation with the command that asked for it. One that
// matches nothing means the connection is not in the state we think (go-redis resubscribed
// behind our back): the connection is given up.
func (b *Bus) confirm(c *psConn, m *redis.Subscription) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.err != nil {
		return nil
	}
	q := c.pending[m.Channel]
	if len(q) == 0 {
		return fmt.Errorf("unexpected %s confirmation for %s", m.Kind, m.Channel)
	}
	t := q[0]
	if len(q) == 1 {
		delete(c.pending, m.Channel)
	} else {
		c.pending[m.Channel] = q[1:]
	}
	want := "unsubscribe"
	if t != nil {
		want = "subscribe"
	}
	if m.Kind != want {
		return fmt.Errorf("got %s confirmation for %s, want %s", m.Kind, m.Channel, want)
	}
	if t != nil {
		close(t.ready)
	}
	return nil
}

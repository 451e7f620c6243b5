package signaling

import (
	"context"
	"errors"
	"sync"
)

// Bus delivers signaling messages between relay connections by topic: "agent/<device>",
// "console/<sid>", "presence/<device>". The in-process bus serves one relay; a Redis bus lets
// a console on one node reach an agent on another.
type Bus interface {
	// Publish delivers msg to the current subscribers of topic. It does not wait for them.
	Publish(ctx context.Context, topic string, msg []byte) error
	// Subscribe returns a channel of messages on topic until ctx ends or the subscriber falls
	// too far behind; then the channel is closed.
	Subscribe(ctx context.Context, topic string) (<-chan []byte, error)
}

// Topics.
func agentTopic(device string) string    { return "agent/" + device }
func consoleTopic(sid string) string     { return "console/" + sid }
func presenceTopic(device string) string { return "presence/" + device }

// ErrBusClosed is returned by a closed bus.
var ErrBusClosed = errors.New("signaling: bus closed")

// subscriberQueue bounds what a subscriber may have pending. Signaling is small and bursty (one
// offer, a dozen candidates); a subscriber this far behind is stuck and is cut off rather than
// letting memory grow (it reconnects and renegotiates).
const subscriberQueue = 256

// MemoryBus is the in-process Bus.
type MemoryBus struct {
	mu     sync.Mutex
	subs   map[string]map[*memorySub]struct{}
	closed bool
}

type memorySub struct {
	ch   chan []byte
	once sync.Once
}

func (s *memorySub) close() { s.once.Do(func() { close(s.ch) }) }

// NewMemoryBus makes an in-process bus.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{subs: make(map[string]map[*memorySub]struct{})}
}

// Publish implements Bus.
func (b *MemoryBus) Publish(_ context.Context, topic string, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBusClosed
	}
	for s := range b.subs[topic] {
		select {
		case s.ch <- msg:
		default:
			b.removeLocked(topic, s)
		}
	}
	return nil
}

// Subscribe implements Bus. The subscription's goroutine ends with ctx.
func (b *MemoryBus) Subscribe(ctx context.Context, topic string) (<-chan []byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBusClosed
	}
	s := &memorySub{ch: make(chan []byte, subscriberQueue)}
	if b.subs[topic] == nil {
		b.subs[topic] = make(map[*memorySub]struct{})
	}
	b.subs[topic][s] = struct{}{}
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		b.removeLocked(topic, s)
		b.mu.Unlock()
	}()
	return s.ch, nil
}

func (b *MemoryBus) removeLocked(topic string, s *memorySub) {
	if set := b.subs[topic]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(b.subs, topic)
		}
	}
	s.close()
}

// Close ends every subscription.
func (b *MemoryBus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for topic, set := range b.subs {
		for s := range set {
			b.removeLocked(topic, s)
		}
	}
	return nil
}

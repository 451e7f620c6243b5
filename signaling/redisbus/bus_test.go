package redisbus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling"
)

// TestCrossNodeDelivery: two Bus instances are two relay nodes; what one publishes reaches the
// other's subscribers, and every local subscriber of a topic gets its own copy.
func TestCrossNodeDelivery(t *testing.T) {
	srv := testenv.StartRedis(t)
	a, b := newBus(t, testConfig(srv)), newBus(t, testConfig(srv))
	sub1, _ := subscribe(t, a, "agent/dev1")
	sub2, _ := subscribe(t, a, "agent/dev1")
	// Subscribe returned after Redis confirmed: no wait is needed before publishing.
	publish(t, b, "agent/dev1", "hello")
	assert.Equal(t, "hello", next(t, sub1))
	assert.Equal(t, "hello", next(t, sub2))
	assert.Equal(t, int64(1), numSub(t, a, "agent/dev1"), "one Redis subscription per topic per node")

	back, _ := subscribe(t, b, "console/s_1")
	publish(t, a, "console/s_1", "offer")
	assert.Equal(t, "offer", next(t, back))
}

// TestTopicIsolation: a message for console/<sid1> never arrives on console/<sid2>.
func TestTopicIsolation(t *testing.T) {
	srv := testenv.StartRedis(t)
	a, b := newBus(t, testConfig(srv)), newBus(t, testConfig(srv))
	s1, _ := subscribe(t, a, "console/s_1")
	s2, _ := subscribe(t, a, "console/s_2")
	for i := range 20 {
		publish(t, b, "console/s_1", fmt.Sprintf("c%d", i))
	}
	publish(t, b, "console/s_2", "mine")
	// Redis delivers one connection's messages in order: the marker comes after all of s_1's.
	assert.Equal(t, "mine", next(t, s2))
	for i := range 20 {
		assert.Equal(t, fmt.Sprintf("c%d", i), next(t, s1))
	}
	select {
	case m := <-s2:
		t.Fatalf("console/s_2 got %q", m)
	default:
	}
}

// TestSlowSubscriberCutOff: a subscriber that does not read is cut off once QueueSize messages
// wait for it, holding no more than that; a subscriber that keeps up is not affected.
func TestSlowSubscriberCutOff(t *testing.T) {
	srv := testenv.StartRedis(t)
	cfg := testConfig(srv)
	cfg.QueueSize = 4
	a, b := newBus(t, cfg), newBus(t, cfg)
	slow, _ := subscribe(t, a, "agent/dev1")
	fast, _ := subscribe(t, a, "agent/dev1")
	// The fast subscriber reads each message before the next is published, so it never has
	// more than one pending; the slow one never reads.
	for i := range 3 * cfg.QueueSize {
		publish(t, b, "agent/dev1", fmt.Sprintf("m%d", i))
		require.Equal(t, fmt.Sprintf("m%d", i), next(t, fast))
	}
	drained := closedWithin(t, slow, time.Second)
	assert.LessOrEqual(t, drained, cfg.QueueSize, "a cut subscriber held at most QueueSize messages")
	assert.Equal(t, int64(1), numSub(t, a, "agent/dev1"), "the fast subscriber keeps the topic")
}

// TestSubscriptionRefCount: the Redis subscription lives while a local subscriber does.
func TestSubscriptionRefCount(t *testing.T) {
	srv := testenv.StartRedis(t)
	a, b := newBus(t, testConfig(srv)), newBus(t, testConfig(srv))
	first, cancelFirst := subscribe(t, a, "presence/dev1")
	second, cancelSecond := subscribe(t, a, "presence/dev1")
	cancelFirst()
	closedWithin(t, first, time.Second)
	publish(t, b, "presence/dev1", "online")
	assert.Equal(t, "online", next(t, second))
	cancelSecond()
	closedWithin(t, second, time.Second)
	require.Eventually(t, func() bool { return numSub(t, a, "presence/dev1") == 0 }, 2*time.Second, 10*time.Millisecond)
	// Subscribing again right after the unsubscribe works (the confirmations stay matched).
	for i := range 5 {
		ch, cancel := subscribe(t, a, "presence/dev1")
		publish(t, b, "presence/dev1", fmt.Sprint(i))
		assert.Equal(t, fmt.Sprint(i), next(t, ch))
		cancel()
	}
}

// TestRedisKilledWhileSubscribed: losing Redis closes every subscription promptly (no silent
// loss), calls fail instead of hanging while it is down, and all works again once it is back.
func TestRedisKilledWhileSubscribed(t *testing.T) {
	srv := testenv.StartRedis(t)
	a, b := newBus(t, testConfig(srv)), newBus(t, testConfig(srv))
	ch1, _ := subscribe(t, a, "console/s_1")
	ch2, _ := subscribe(t, a, "agent/dev1")
	srv.Kill()
	closedWithin(t, ch1, 3*time.Second)
	closedWithin(t, ch2, 3*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := a.Subscribe(ctx, "console/s_2")
	assert.Error(t, err)
	assert.Error(t, b.Publish(ctx, "console/s_1", []byte("lost")))

	srv.Start(t)
	eventuallyWorks(t, a, b)
}

// TestRedisRestartWhileIdle: nodes reconnect on their own and new subscriptions work.
func TestRedisRestartWhileIdle(t *testing.T) {
	srv := testenv.StartRedis(t)
	a, b := newBus(t, testConfig(srv)), newBus(t, testConfig(srv))
	eventuallyWorks(t, a, b)
	srv.Restart(t)
	eventuallyWorks(t, a, b)
	eventuallyWorks(t, b, a)
}

// TestRedisHangs: a Redis that stops answering (frozen process: the connection stays open) is
// found by the health ping and the subscriptions close within about two HealthIntervals.
func TestRedisHangs(t *testing.T) {
	srv := testenv.StartRedis(t)
	cfg := testConfig(srv)
	a := newBus(t, cfg)
	ch, _ := subscribe(t, a, "console/s_1")
	srv.Freeze(t)
	start := time.Now()
	closedWithin(t, ch, 10*cfg.HealthInterval)
	t.Logf("subscription closed %s after Redis froze", time.Since(start).Round(time.Millisecond))
	srv.Thaw(t)
	eventuallyWorks(t, a, a)
}

// eventuallyWorks waits until a subscription on sub receives what pub publishes.
func eventuallyWorks(t *testing.T, sub, pub *Bus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := roundTrip(sub, pub)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bus does not work again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func roundTrip(sub, pub *Bus) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, "probe")
	if err != nil {
		return err
	}
	if err := pub.Publish(ctx, "probe", []byte("ping")); err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("subscription closed")
		}
		if string(m) != "ping" {
			return fmt.Errorf("got %q", m)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestClose: Close ends every subscription and later calls fail with ErrBusClosed.
func TestClose(t *testing.T) {
	srv := testenv.StartRedis(t)
	b, err := NewBus(testConfig(srv))
	require.NoError(t, err)
	ch, _ := subscribe(t, b, "agent/dev1")
	require.NoError(t, b.Close())
	closedWithin(t, ch, time.Second)
	_, err = b.Subscribe(context.Background(), "agent/dev1")
	assert.ErrorIs(t, err, signaling.ErrBusClosed)
	assert.ErrorIs(t, b.Publish(context.Background(), "agent/dev1", nil), signaling.ErrBusClosed)
	require.NoError(t, b.Close(), "Close twice")
}

// TestNoRedis: with Redis unreachable, New fails and a Bus's calls fail within OpTimeout.
func TestNoRedis(t *testing.T) {
	srv := testenv.StartRedis(t)
	cfg := testConfig(srv)
	srv.Kill()
	_, _, err := New(context.Background(), cfg)
	assert.ErrorContains(t, err, "does not answer")
	b := newBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.OpTimeout)
	defer cancel()
	_, err = b.Subscribe(ctx, "agent/dev1")
	assert.Error(t, err)
	assert.NoError(t, ctx.Err(), "failed before the caller's deadline")
}

func TestBadURL(t *testing.T) {
	_, err := NewBus(Config{URL: "redis://user:secret@%zz"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret", "the password never reaches logs")
}

// TestSubscribeChurn: subscribers coming and going concurrently on shared topics, some with
// contexts cancelled before or while subscribing, never disturb a steady subscriber nor the
// shared connection.
func TestSubscribeChurn(t *testing.T) {
	srv := testenv.StartRedis(t)
	a, b := newBus(t, testConfig(srv)), newBus(t, testConfig(srv))
	steady, _ := subscribe(t, a, "t/0")
	const n = 200
	got := make(chan int)
	go func() {
		count := 0
		for range steady {
			count++
			if count == n {
				break
			}
		}
		got <- count
	}()

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 30 {
				ctx, cancel := context.WithCancel(context.Background())
				switch i % 3 {
				case 0:
					cancel() // cancelled before subscribing
				case 1:
					time.AfterFunc(time.Duration(i%5)*time.Millisecond, cancel) // while subscribing
				}
				ch, err := a.Subscribe(ctx, fmt.Sprintf("t/%d", (w+i)%3))
				if err == nil {
					cancel()
					for range ch { // closes once the cancellation is seen
					}
				}
				cancel()
			}
		})
	}
	for i := range n {
		publish(t, b, "t/0", fmt.Sprint(i))
	}
	wg.Wait()
	assert.Equal(t, n, <-got)
	a.mu.Lock()
	down := a.down
	a.mu.Unlock()
	assert.False(t, down, "the shared connection never failed")
	require.Eventually(t, func() bool { return numSub(t, a, "t/1") == 0 && numSub(t, a, "t/2") == 0 }, 2*time.Second, 10*time.Millisecond,
		"topics without subscribers are unsubscribed")
	assert.Equal(t, int64(1), numSub(t, a, "t/0"))
}

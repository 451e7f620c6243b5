package peerconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// pair connects a Conn (with the given timings) to a plain WebSocket peer that serve runs on
// the server side of a real TCP connection. The Conn's writer runs until the test ends.
func pair(t *testing.T, ping, read time.Duration, serve func(ws *websocket.Conn)) (*Conn, context.CancelFunc) {
	t.Helper()
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted before the upgrade answers, so before the test can wait for it.
		handlers.Add(1)
		defer handlers.Done()
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		serve(ws)
	}))
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	resp.Body.Close()
	c := newConn(ws, slog.Default(), ping, read)
	ctx, cancel := context.WithCancel(context.Background())
	var writer sync.WaitGroup
	writer.Go(func() { c.WriteLoop(ctx) })
	t.Cleanup(func() {
		cancel()
		writer.Wait()
		c.Close(nil)
		handlers.Wait()
		srv.Close()
	})
	return c, cancel
}

// readAll reads c until it fails, on a goroutine; the error arrives on the returned channel.
func readAll(c *Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Read(); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// TestKeepalive: a peer that answers pings keeps the connection open through many read
// timeouts; one that stops answering is dropped with a timeout.
func TestKeepalive(t *testing.T) {
	const ping, read = 10 * time.Millisecond, 200 * time.Millisecond
	t.Run("answered", func(t *testing.T) {
		var pings atomic.Int32
		c, _ := pair(t, ping, read, func(ws *websocket.Conn) {
			ws.SetPingHandler(func(data string) error {
				pings.Add(1)
				return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
			})
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		})
		readErr := readAll(c)
		// 60 pings are three read timeouts: only pongs extending the deadline keep it open.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		giveUp := time.After(20 * time.Second)
		for pings.Load() < 60 {
			select {
			case err := <-readErr:
				t.Fatalf("connection dropped after %d answered pings: %v", pings.Load(), err)
			case <-giveUp:
				t.Fatalf("only %d pings", pings.Load())
			case <-tick.C:
			}
		}
		assert.NoError(t, c.Cause())
	})
	t.Run("unanswered", func(t *testing.T) {
		stop := make(chan struct{})
		c, _ := pair(t, ping, read, func(ws *websocket.Conn) {
			<-stop // reads nothing, so answers no ping
		})
		defer close(stop)
		var err error
		select {
		case err = <-readAll(c):
		case <-time.After(20 * time.Second):
			t.Fatal("a peer answering no ping was never dropped")
		}
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "dropped for %v, want a read timeout", err)
		<-c.Done()
		assert.Equal(t, err, c.Cause())
	})
}

// TestReadLimit: a message over wire.MaxMessageSize closes the connection instead of being
// buffered; one at the limit passes.
func TestReadLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{
		{"at the limit", wire.MaxMessageSize, true},
		{"over the limit", wire.MaxMessageSize + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := pair(t, time.Minute, time.Minute, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.TextMessage, make([]byte, tc.size))
				_, _, _ = ws.ReadMessage() // until the Conn closes
			})
			msg, err := c.Read()
			if tc.ok {
				require.NoError(t, err)
				assert.Len(t, msg, tc.size)
				return
			}
			require.ErrorIs(t, err, websocket.ErrReadLimit)
			<-c.Done()
		})
	}
}

// TestCloseWritesQueuedThenCloseFrame: ending the writer sends what was queued, then a close
// frame saying the peer is going away.
func TestCloseWritesQueuedThenCloseFrame(t *testing.T) {
	got := make(chan []string, 1)
	c, cancel := pair(t, time.Minute, time.Minute, func(ws *websocket.Conn) {
		var msgs []string
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					msgs = append(msgs, fmt.Sprintf("close %d", ce.Code))
				}
				got <- msgs
				return
			}
			msgs = append(msgs, string(msg))
		}
	})
	require.True(t, c.SendEnvelope(wire.TypeBye, "s_1", wire.Bye{Reason: "done"}))
	require.True(t, c.Send([]byte(`{"v":1,"type":"bye","sid":"s_2"}`)))
	cancel()
	msgs := <-got
	require.Len(t, msgs, 3)
	assert.JSONEq(t, `{"v":1,"type":"bye","sid":"s_1","data":{"reason":"done"}}`, msgs[0])
	assert.JSONEq(t, `{"v":1,"type":"bye","sid":"s_2"}`, msgs[1])
	assert.Equal(t, fmt.Sprintf("close %d", websocket.CloseGoingAway), msgs[2])
	<-c.Done()
	assert.NoError(t, c.Cause(), "an orderly close has no cause")
}

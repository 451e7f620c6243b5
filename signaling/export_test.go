package signaling

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/fasthttp/websocket"
)

// dialWithProtocols dials as a browser does: token in the subprotocol list, no Authorization.
func dialWithProtocols(ctx context.Context, url, origin string, protocols []string) (*Client, error) {
	h := http.Header{}
	h.Set("Origin", origin)
	d := websocket.Dialer{Subprotocols: protocols}
	ws, resp, err := d.DialContext(ctx, url, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	c := &Client{pc: newPeerConn(ws, slog.Default()), cancel: cancel}
	c.wg = sync.WaitGroup{}
	c.wg.Go(func() { c.pc.writeLoop(wctx) })
	return c, nil
}

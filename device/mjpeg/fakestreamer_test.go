package mjpeg

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// fakeStreamer is a TCP server that answers each request with exactly the bytes a test's
// handler writes, the way ustreamer does (it writes its HTTP/1.0 response by hand).
type fakeStreamer struct {
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	handle func(ctx context.Context, w *bufio.Writer, req *http.Request)
}

func startFake(t testing.TB, handle func(ctx context.Context, w *bufio.Writer, req *http.Request)) *fakeStreamer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeStreamer{ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}, handle: handle}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *fakeStreamer) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() {
				f.mu.Lock()
				delete(f.conns, c)
				f.mu.Unlock()
				_ = c.Close()
			}()
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				return
			}
			// The handler's context ends with the server or when the client hangs up.
			ctx, cancel := context.WithCancel(f.ctx)
			defer cancel()
			go func() {
				defer cancel()
				_, _ = io.Copy(io.Discard, c)
			}()
			w := bufio.NewWriter(c)
			f.handle(ctx, w, req)
			_ = w.Flush()
		}()
	}
}

// dropAll closes every open connection, like a streamer that crashed.
func (f *fakeStreamer) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
}

func (f *fakeStreamer) close() {
	f.cancel()
	_ = f.ln.Close()
	f.dropAll()
	f.wg.Wait()
}

// url is the stream's URL.
func (f *fakeStreamer) url(path string) string { return "http://" + f.ln.Addr().String() + path }

// ustreamerHeader is ustreamer's response head and first boundary, byte for byte.
const ustreamerHeader = "HTTP/1.0 200 OK\r\n" +
	"Cache-Control: no-store, no-cache, must-revalidate, proxy-revalidate, pre-check=0, post-check=0, max-age=0\r\n" +
	"Pragma: no-cache\r\n" +
	"Expires: Mon, 3 Jan 2000 12:34:56 GMT\r\n" +
	"Set-Cookie: stream_client=0/18a3c5e7f9b1d; path=/; max-age=30\r\n" +
	"Content-Type: multipart/x-mixed-replace;boundary=" + usBoundary + "\r\n" +
	"\r\n" +
	"--" + usBoundary + "\r\n"

// ustreamerUnauthorized is what ustreamer (libevent) answers without the right credentials.
const ustreamerUnauthorized = "HTTP/1.1 401 Unauthorized\r\n" +
	"WWW-Authenticate: Basic realm=\"Restricted area\"\r\n" +
	"Content-Type: text/html; charset=ISO-8859-1\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 0\r\n\r\n"

// serveFrames writes ustreamer's stream of every JPEG received from frames, in the given
// mode, until frames is closed (then the connection ends) or the server stops.
func serveFrames(frames <-chan []byte, mode string) func(ctx context.Context, w *bufio.Writer, req *http.Request) {
	return func(ctx context.Context, w *bufio.Writer, _ *http.Request) {
		_, _ = w.WriteString(ustreamerHeader)
		if mode == "advance" {
			_, _ = w.WriteString("Content-Type: image/jpeg\r\nX-Timestamp: 1733538000.000000\r\n\r\n")
		}
		if w.Flush() != nil {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case jpeg, ok := <-frames:
				if !ok {
					return
				}
				switch mode {
				case "advance":
					_, _ = w.WriteString(ustreamerAdvance(jpeg))
				case "extra":
					_, _ = w.WriteString(ustreamerExtraPart(jpeg, 64, 48))
				default:
					_, _ = w.WriteString(ustreamerPart(jpeg))
				}
				if w.Flush() != nil {
					return
				}
			}
		}
	}
}

// answer writes a fixed HTTP response.
func answer(raw string) func(context.Context, *bufio.Writer, *http.Request) {
	return func(_ context.Context, w *bufio.Writer, _ *http.Request) { _, _ = fmt.Fprint(w, raw) }
}

package wsman

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scripted returns a Client whose every dial reaches handle on the other end
// of a pipe.
func scripted(t *testing.T, handle func(conn net.Conn, br *bufio.Reader)) (*Client, *int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	dials := 0
	c := NewClient(func(context.Context) (net.Conn, error) {
		c1, c2 := net.Pipe()
		mu.Lock()
		dials++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c2.Close()
			handle(c2, bufio.NewReader(c2))
		}()
		return c1, nil
	}, testUser, testPassword)
	t.Cleanup(func() {
		_ = c.Close()
		wg.Wait()
	})
	return c, &dials
}

var messageIDRE = regexp.MustCompile(`<a:MessageID>(\d+)</a:MessageID>`)

// readRequest reads one request and returns its MessageID ("" on error).
func readRequest(br *bufio.Reader) string {
	req, err := http.ReadRequest(br)
	if err != nil {
		return ""
	}
	body, _ := io.ReadAll(req.Body)
	m := messageIDRE.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func startOptInOK(t *testing.T, conn net.Conn, id string) {
	srv := newTestServer(t, newFakeFirmware())
	_ = srv.writeChunked(conn, 200, methodReply(actionStartOptIn, uriOptInService, "StartOptIn", 0).render(id, 1))
}

func TestClientHostileResponses(t *testing.T) {
	hdr200 := "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name   string
		handle func(conn net.Conn, br *bufio.Reader)
		check  func(t *testing.T, err error)
	}{
		{
			name: "endless chunked body",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				if _, err := io.WriteString(conn, hdr200); err != nil {
					return
				}
				chunk := "1000\r\n" + strings.Repeat("<", 0x1000) + "\r\n"
				for {
					if _, err := io.WriteString(conn, chunk); err != nil {
						return
					}
				}
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errTooLarge) },
		},
		{
			name: "endless header",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\nX: "); err != nil {
					return
				}
				for {
					if _, err := io.WriteString(conn, strings.Repeat("a", 4096)); err != nil {
						return
					}
				}
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errTooLarge) },
		},
		{
			name: "truncated chunk",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, hdr200+"0200\r\n<?xml version=")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, io.ErrUnexpectedEOF) },
		},
		{
			name: "truncated Content-Length body",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n<a:Envelope")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, io.ErrUnexpectedEOF) },
		},
		{
			name: "bad chunk size",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, hdr200+"zz\r\nabc\r\n0\r\n\r\n")
			},
			check: func(t *testing.T, err error) { assert.Error(t, err) },
		},
		{
			name: "closed without answering",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, io.ErrUnexpectedEOF) },
		},
		{
			name: "garbage status line",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, "SSH-2.0-OpenSSH\r\n\r\n")
			},
			check: func(t *testing.T, err error) { assert.Error(t, err) },
		},
		{
			name: "malformed XML",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, hdr200+"000C\r\n<a:Envelope>\r\n0\r\n\r\n")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errMalformed) },
		},
		{
			name: "not an envelope",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, hdr200+"0007\r\n<x></x>\r\n0\r\n\r\n")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errMalformed) },
		},
		{
			name: "RelatesTo another request",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				startOptInOK(t, conn, "41")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errMalformed) },
		},
		{
			name: "no ReturnValue",
			handle: func(conn net.Conn, br *bufio.Reader) {
				id := readRequest(br)
				srv := newTestServer(t, newFakeFirmware())
				r := methodReply(actionStartOptIn, uriOptInService, "StartOptIn", 0)
				r.body = `<g:StartOptIn_OUTPUT></g:StartOptIn_OUTPUT>`
				_ = srv.writeChunked(conn, 200, r.render(id, 1))
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errMalformed) },
		},
		{
			name: "ReturnValue not a number",
			handle: func(conn net.Conn, br *bufio.Reader) {
				id := readRequest(br)
				srv := newTestServer(t, newFakeFirmware())
				r := methodReply(actionStartOptIn, uriOptInService, "StartOptIn", 0)
				r.body = `<g:StartOptIn_OUTPUT><g:ReturnValue>zero</g:ReturnValue></g:StartOptIn_OUTPUT>`
				_ = srv.writeChunked(conn, 200, r.render(id, 1))
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errMalformed) },
		},
		{
			name: "HTML error page",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 13\r\n\r\n<html></html>")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, errMalformed) },
		},
		{
			name: "SOAP fault",
			handle: func(conn net.Conn, br *bufio.Reader) {
				id := readRequest(br)
				srv := newTestServer(t, newFakeFirmware())
				_ = srv.writeChunked(conn, 400, faultActionNotSupported(uriOptInService).render(id, 1))
			},
			check: func(t *testing.T, err error) {
				var fe *FaultError
				require.ErrorAs(t, err, &fe)
				assert.ErrorIs(t, err, ErrFault)
				assert.Equal(t, FaultError{Status: 400, Code: "a:Sender", Subcode: "b:ActionNotSupported", Reason: "The action is not supported by the service."}, *fe)
			},
		},
		{
			name: "401 without a challenge",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\n<html></html>")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrAuth) },
		},
		{
			name: "401 with a non-digest challenge",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrAuth) },
		},
		{
			name: "401 forever, stale each time",
			handle: func(conn net.Conn, br *bufio.Reader) {
				readRequest(br)
				_, _ = io.WriteString(conn, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\",stale=\"true\",qop=\"auth\"\r\nContent-Length: 0\r\n\r\n")
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrAuth) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := scripted(t, tt.handle)
			_, err := c.StartOptIn(context.Background())
			require.Error(t, err)
			tt.check(t, err)
		})
	}
}

// TestClientCancelWhileWaiting: a device that never answers is abandoned
// when the context ends.
func TestClientCancelWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan struct{})
	c, _ := scripted(t, func(conn net.Conn, br *bufio.Reader) {
		readRequest(br)
		close(got)
		_, _ = io.Copy(io.Discard, br) // until the client hangs up
	})
	go func() {
		<-got
		cancel()
	}()
	_, err := c.StartOptIn(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

// TestClientRedialsClosedConnection: the device closing the kept connection
// between calls costs a new dial, not an error.
func TestClientRedialsClosedConnection(t *testing.T) {
	c, dials := scripted(t, func(conn net.Conn, br *bufio.Reader) {
		startOptInOK(t, conn, readRequest(br))
		// and hang up, without saying Connection: close
	})
	for range 3 {
		rv, err := c.StartOptIn(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 0, rv)
	}
	assert.Equal(t, 3, *dials)
}

// TestChunkedEndIsWhatMPSWaitsFor: every chunked response ends with the
// bytes MPS looks for.
func TestChunkedEndIsWhatMPSWaitsFor(t *testing.T) {
	srv := newTestServer(t, newFakeFirmware())
	var b strings.Builder
	require.NoError(t, srv.writeChunked(&b, 200, []byte("abc")))
	assert.Equal(t, "HTTP/1.1 200 OK\r\nDate: Mon, 10 Jan 2022 20:37:48 GMT\r\nServer: Intel(R) Active Management Technology 15.0.23.1706\r\nX-Frame-Options: DENY\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n0\r\n\r\n", b.String())
}

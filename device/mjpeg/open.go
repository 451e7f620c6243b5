package mjpeg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
)

// Errors Open returns for answers that are not a stream.
var (
	ErrUnauthorized = errors.New("mjpeg: unauthorized")
	ErrNotFound     = errors.New("mjpeg: not found")
	ErrNotMJPEG     = errors.New("mjpeg: not an MJPEG stream")
	ErrHTTPStatus   = errors.New("mjpeg: unexpected HTTP status")
)

// Open requests the stream and returns once its headers are read and its part boundary is
// known; connecting and that much are bounded by the dial timeout.
func (s *Source) Open(ctx context.Context) (device.Conn, error) {
	// The request outlives Open: its context is the connection's, cancelled by Close.
	reqCtx, cancel := context.WithCancel(context.Background())
	stopCtx := context.AfterFunc(ctx, cancel)
	timer := time.AfterFunc(s.cfg.DialTimeout, cancel)
	transport := &http.Transport{
		DialContext:        (&net.Dialer{Timeout: s.cfg.DialTimeout, KeepAlive: 15 * time.Second}).DialContext,
		TLSClientConfig:    s.tlsConfig(),
		DisableCompression: true,
		// One connection, held for the stream's life; nothing to pool and no proxy on the
		// way to a machine next to the agent.
		DisableKeepAlives: true,
	}
	fail := func(err error) (device.Conn, error) {
		timer.Stop()
		stopCtx()
		cancel()
		transport.CloseIdleConnections()
		return device.Conn{}, err
	}
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, s.cfg.URL.String(), nil)
	if err != nil {
		return fail(fmt.Errorf("mjpeg: %s: %w", s.redacted(), err))
	}
	req.Header.Set("Accept", "multipart/x-mixed-replace, image/jpeg;q=0.5")
	req.Header.Set("User-Agent", "kvmagent")
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fail(s.connectError(ctx, timer, err))
	}
	br := bufio.NewReaderSize(resp.Body, readBuffer)
	boundary, err := s.checkResponse(resp, br)
	if err != nil {
		_ = resp.Body.Close()
		if ctx.Err() == nil && !timer.Stop() {
			err = fmt.Errorf("mjpeg: %s sent no stream within %v: %w", s.redacted(), s.cfg.DialTimeout, err)
		}
		return fail(err)
	}
	if !timer.Stop() || !stopCtx() {
		_ = resp.Body.Close()
		return fail(s.connectError(ctx, timer, context.DeadlineExceeded))
	}
	st := newStream(streamConfig{
		body: resp.Body, br: br, boundary: boundary,
		maxFrame: s.cfg.MaxFrame, stall: s.cfg.StallTimeout, decoder: s.cfg.NewDecoder(),
		log: s.cfg.Logger.With("source", s.String()), cancel: func() {
			cancel()
			transport.CloseIdleConnections()
		},
	})
	return device.Conn{Video: st}, nil
}

func (s *Source) connectError(ctx context.Context, timer *time.Timer, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case !timer.Stop():
		return fmt.Errorf("mjpeg: %s did not answer within %v: check the host and port", s.redacted(), s.cfg.DialTimeout)
	}
	if hint := certHint(err); hint != "" {
		return fmt.Errorf("mjpeg: %s: %s", s.redacted(), hint)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("mjpeg: cannot reach %s (%v): check the host and port", s.cfg.URL.Host, opErr.Err)
	}
	return fmt.Errorf("mjpeg: %s: %w", s.redacted(), err)
}

type boundaryInfo struct {
	value string
	// sniffed is true when the boundary came from the body's first line, which is consumed.
	sniffed bool
}

// checkResponse checks the status and finds the part boundary: from the Content-Type, or
// from the first line of a body served as application/octet-stream, which is what
// `ffmpeg -f mpjpeg -listen 1` answers unless given -content_type.
func (s *Source) checkResponse(resp *http.Response, br *bufio.Reader) (boundaryInfo, error) {
	where := s.redacted()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		what := "no user and password given: put the user in the URL (mjpeg+http://USER@host/…) and the password in " + PasswordVar
		if s.cfg.URL.User != nil {
			what = "wrong user or password (user in the URL, password in " + PasswordVar + ")"
		}
		return boundaryInfo{}, fmt.Errorf("%w: %s answered %d: %s", ErrUnauthorized, where, resp.StatusCode, what)
	case http.StatusNotFound:
		return boundaryInfo{}, fmt.Errorf("%w: %s answered 404: check the stream path (PiKVM: /streamer/stream, ustreamer: /stream)", ErrNotFound, where)
	default:
		return boundaryInfo{}, fmt.Errorf("%w: %s answered %s", ErrHTTPStatus, where, resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if b := params["boundary"]; b != "" {
			return boundaryInfo{value: b}, nil
		}
	case mt == "" || mt == "application/octet-stream":
	case mt == "image/jpeg":
		return boundaryInfo{}, fmt.Errorf("%w: %s is a single picture (a snapshot), not a stream: use the stream path (PiKVM: /streamer/stream, ustreamer: /stream)", ErrNotMJPEG, where)
	default:
		return boundaryInfo{}, fmt.Errorf("%w: %s is not an MJPEG stream (Content-Type %s): point the URL at the stream (PiKVM: /streamer/stream, ustreamer: /stream)", ErrNotMJPEG, where, ct)
	}
	b, err := sniffBoundary(br)
	if err != nil {
		return boundaryInfo{}, fmt.Errorf("%w: %s (Content-Type %q) %v", ErrNotMJPEG, where, ct, err)
	}
	return boundaryInfo{value: b, sniffed: true}, nil
}

// maxSniff bounds the first line sniffBoundary reads.
const maxSniff = 256

// sniffBoundary reads the body's first line, which must be "--BOUNDARY" (blank lines before
// it are allowed).
func sniffBoundary(br *bufio.Reader) (string, error) {
	read := 0
	for {
		line, err := br.ReadSlice('\n')
		read += len(line)
		if read > maxSniff || errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("does not start with a part boundary")
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", errors.New("ended before its first part")
			}
			return "", err
		}
		line = bytes.TrimRight(line, " \t\r\n")
		if len(line) == 0 {
			continue
		}
		b, ok := bytes.CutPrefix(line, []byte("--"))
		if !ok || len(b) == 0 || len(b) > 70 || bytes.ContainsAny(b, " \t") {
			return "", errors.New("does not start with a part boundary")
		}
		return string(b), nil
	}
}

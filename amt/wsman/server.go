package wsman

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// maxRequestBytes bounds one request, headers and body.
	maxRequestBytes = 64 << 10
	// idleTimeout ends a connection with no request for this long.
	idleTimeout = 2 * time.Minute
	// ioTimeout bounds reading the rest of a request and writing a response.
	ioTimeout = 30 * time.Second
	// chunkSize is the most data per chunk (AMT sends several chunks).
	chunkSize = 512
	// serverHeader is what a real AMT names itself.
	serverHeader = "Intel(R) Active Management Technology 15.0.23.1706"
	// dateFormat is AMT's Date: the day is not zero-padded.
	dateFormat = "Mon, 2 Jan 2006 15:04:05 GMT"
)

// unauthorizedPage is the 401 body; MPS needs a 401 to end in "</html>".
const unauthorizedPage = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"><html><head><title>Intel&reg; Active Management Technology</title></head><body><h2>Log on failed. Incorrect user name or password, or user account temporarily locked.</h2></body></html>`

// notFoundPage answers anything but POST /wsman.
const notFoundPage = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"><html><head><title>Intel&reg; Active Management Technology</title></head><body><h2>Not found</h2></body></html>`

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) ServerOption {
	return func(s *Server) { s.log = l }
}

// Server answers WS-Man on port-16992 channels for one device. Digest
// nonces and enumeration contexts live here, shared by all of the device's
// connections.
type Server struct {
	fw       Firmware
	user     string
	password string
	realm    string
	log      *slog.Logger
	now      func() time.Time

	mu          sync.Mutex
	nonces      map[string]*nonceState
	nonceOrder  []string
	enums       map[string]string
	enumOrder   []string
	enumCounter uint32
	msgCounter  uint64
}

// NewServer returns a server for fw that accepts user with password in
// realm (AMT's look like "Digest:" and 32 hex digits). None may be empty.
func NewServer(fw Firmware, user, password, realm string, opts ...ServerOption) (*Server, error) {
	if fw == nil || user == "" || password == "" || realm == "" {
		return nil, errors.New("wsman: server needs firmware, a user, a password and a realm")
	}
	s := &Server{
		fw: fw, user: user, password: password, realm: realm,
		log:    slog.Default(),
		now:    time.Now,
		nonces: make(map[string]*nonceState),
		enums:  make(map[string]string),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Serve answers HTTP/1.1 requests on conn until the peer closes it, a
// request is refused with "Connection: close" (a 401, a malformed request),
// it sits idle too long, or ctx ends. It closes conn. A peer closing between
// requests returns nil.
func (s *Server) Serve(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	// Deadlines are set under mu so that one set just after ctx ends cannot
	// undo the past deadline that unblocks the connection.
	var mu sync.Mutex
	setDeadline := func(set func(time.Time) error, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		t := time.Now().Add(d)
		if ctx.Err() != nil {
			t = time.Unix(1, 0)
		}
		_ = set(t)
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		_ = conn.SetDeadline(time.Unix(1, 0))
		_ = conn.Close() // for connections whose deadlines do nothing
	})
	defer stop()
	budget := &budgetReader{r: conn}
	br := bufio.NewReader(budget)
	for {
		budget.reset(maxRequestBytes)
		setDeadline(conn.SetReadDeadline, idleTimeout)
		if _, err := br.Peek(1); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("wsman: wait for request: %w", err)
		}
		setDeadline(conn.SetDeadline, ioTimeout)
		keep, err := s.serveOne(conn, br)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || !keep {
			return err
		}
	}
}

// serveOne reads and answers one request; keep says the connection stays.
func (s *Server) serveOne(w io.Writer, br *bufio.Reader) (keep bool, err error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		_ = s.writeEmpty(w, http.StatusBadRequest)
		return false, fmt.Errorf("wsman: read request: %w", err)
	}
	defer req.Body.Close()
	if req.Method != http.MethodPost || req.URL.Path != wsmanPath {
		return false, s.writePage(w, http.StatusNotFound, "", notFoundPage)
	}
	switch res, why := s.checkAuth(req); res {
	case authFailed, authStale:
		if req.Header.Get("Authorization") != "" {
			s.log.Info("wsman: digest refused", "reason", why)
		}
		challenge := `Digest realm="` + s.realm + `", nonce="` + s.newNonce() + `",stale="` + strconv.FormatBool(res == authStale) + `",qop="auth"`
		return false, s.writePage(w, http.StatusUnauthorized, challenge, unauthorizedPage)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		_ = s.writeEmpty(w, http.StatusBadRequest)
		return false, fmt.Errorf("wsman: read request body: %w", err)
	}
	env, err := parseRequest(body)
	if err != nil {
		s.log.Info("wsman: malformed request", "err", err)
		return !req.Close, s.writeEmpty(w, http.StatusBadRequest)
	}
	r := s.dispatch(env)
	s.mu.Lock()
	s.msgCounter++
	id := s.msgCounter
	s.mu.Unlock()
	if err := s.writeChunked(w, r.status, r.render(messageID(env), id)); err != nil {
		return false, err
	}
	return !req.Close, nil
}

func (s *Server) date() string { return s.now().UTC().Format(dateFormat) }

// writeChunked writes a SOAP response the way AMT does: chunked, chunk sizes
// as four uppercase hex digits, ending "0\r\n\r\n".
func (s *Server) writeChunked(w io.Writer, status int, xmlBody []byte) error {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	b.WriteString("Date: " + s.date() + "\r\n")
	b.WriteString("Server: " + serverHeader + "\r\n")
	b.WriteString("X-Frame-Options: DENY\r\n")
	b.WriteString("Content-Type: application/soap+xml; charset=UTF-8\r\n")
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	for len(xmlBody) > 0 {
		n := min(len(xmlBody), chunkSize)
		fmt.Fprintf(&b, "%04X\r\n", n)
		b.Write(xmlBody[:n])
		b.WriteString("\r\n")
		xmlBody = xmlBody[n:]
	}
	b.WriteString("0\r\n\r\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("wsman: write response: %w", err)
	}
	return nil
}

// writePage writes an HTML page with Content-Length and closes the
// exchange (AMT's 401 shape; MPS sees "</html>" and stops reading).
func (s *Server) writePage(w io.Writer, status int, challenge, page string) error {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	if challenge != "" {
		b.WriteString("WWW-Authenticate: " + challenge + "\r\n")
	}
	b.WriteString("Content-Type: text/html\r\n")
	b.WriteString("Server: " + serverHeader + "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(page)) + "\r\n")
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(page)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("wsman: write response: %w", err)
	}
	return nil
}

// writeEmpty is AMT's answer to a request it cannot read: a status with
// no body (MPS sees "Content-Length: 0\r\n\r\n" end in "0\r\n\r\n").
func (s *Server) writeEmpty(w io.Writer, status int) error {
	msg := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Date: " + s.date() + "\r\n" +
		"Server: " + serverHeader + "\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := io.WriteString(w, msg); err != nil {
		return fmt.Errorf("wsman: write response: %w", err)
	}
	return nil
}

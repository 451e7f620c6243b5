package fakemps

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Config configures the fake MPS.
type Config struct {
	Devices Devices
	// Users are the web users (MPS has one: web_admin_user); names compare case-insensitively.
	Users map[string]string
	// Secret signs tokens (HS256); nil means a random one. Keep it across Restart (MPS reads
	// it from its configuration).
	Secret []byte
	// Issuer is the iss claim; empty means MPS's default jwt_issuer.
	Issuer string
	// Listen are the addresses Start listens on, e.g. "127.0.0.1:0".
	Listen []string
	// TLS serves HTTPS and WSS when set.
	TLS *tls.Config
	// RequireBearer checks the Bearer token on REST (as a Kong gateway in front does; MPS
	// itself does not).
	RequireBearer bool
	// BinaryFrames sends device bytes as BINARY frames instead of MPS's TEXT frames.
	BinaryFrames bool
	// LoginTTL and RedirectionTTL default to MPS's 1440 and 5 minutes.
	LoginTTL, RedirectionTTL time.Duration
	// Now is the clock for token expiry; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultIssuer is MPS's default jwt_issuer (also the key of Kong's JWT consumer).
const DefaultIssuer = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc"

// Server is a fake MPS. Its Handler can be served by any http.Server (httptest); Start serves
// it on Config.Listen and makes Restart possible.
type Server struct {
	cfg    Config
	secret []byte
	log    *slog.Logger
	h      http.Handler

	mu         sync.Mutex
	tokenFault TokenFault
	slots      map[string]map[string]*session // guid → mode → holder
	sessions   map[*session]struct{}
	srv        *http.Server
	listeners  []net.Listener
	addrs      []string
	closed     bool
	stopping   bool // refuse new relay sessions while stop cuts the old ones
	serveWG    sync.WaitGroup
	sessionWG  sync.WaitGroup
}

// New makes a fake MPS; it does not listen until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Devices == nil {
		return nil, errors.New("fakemps: Config.Devices is required")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.LoginTTL <= 0 {
		cfg.LoginTTL = 1440 * time.Minute
	}
	if cfg.RedirectionTTL <= 0 {
		cfg.RedirectionTTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:      cfg,
		secret:   cfg.Secret,
		log:      cfg.Logger,
		slots:    map[string]map[string]*session{},
		sessions: map[*session]struct{}{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.secret == nil {
		s.secret = make([]byte, 32)
		_, _ = rand.Read(s.secret)
	}
	s.h = s.routes()
	return s, nil
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// Handler serves the REST API and the relay WebSocket.
func (s *Server) Handler() http.Handler { return s.h }

// SetTokenFault breaks the redirection tokens issued from now on (TokenOK mends them).
func (s *Server) SetTokenFault(f TokenFault) {
	s.mu.Lock()
	s.tokenFault = f
	s.mu.Unlock()
}

// KVMConnected says whether the fake holds a KVM session for the device (redirectstatus).
func (s *Server) KVMConnected(guid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots[guid]["kvm"] != nil
}

// Start listens on Config.Listen and serves.
func (s *Server) Start() error {
	if len(s.cfg.Listen) == 0 {
		return errors.New("fakemps: Config.Listen is empty")
	}
	return s.listen(s.cfg.Listen)
}

func (s *Server) listen(addrs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	if s.srv != nil {
		return errors.New("fakemps: already serving")
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("fakemps: listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: s.cfg.TLS,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.srv, s.listeners, s.addrs = srv, lns, nil
	for _, ln := range lns {
		s.addrs = append(s.addrs, ln.Addr().String())
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			var err error
			if s.cfg.TLS != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("fakemps: serve", "addr", ln.Addr(), "err", err)
			}
		}()
	}
	return nil
}

// Addrs are the addresses being served (the ports chosen for ":0").
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// URL is the base URL of the first address (https when Config.TLS is set).
func (s *Server) URL() *url.URL {
	addrs := s.Addrs()
	if len(addrs) == 0 {
		return nil
	}
	scheme := "http"
	if s.cfg.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: addrs[0]}
}

// Restart is an MPS restart mid-session: every connection is cut (relay WebSockets without a
// close frame), session state is forgotten, and the fake listens again on the same addresses.
// Tokens stay valid (the secret comes from configuration). It does not touch the CIRA links:
// the caller restarts its CIRA server as well.
func (s *Server) Restart() error {
	addrs := s.Addrs()
	if err := s.stop(); err != nil {
		return err
	}
	if len(addrs) == 0 {
		return nil // served by someone else's http.Server: sessions were cut, nothing to reopen
	}
	return s.listen(addrs)
}

// Close stops serving and cuts every session. Safe to call more than once.
func (s *Server) Close() error {
	err := s.stop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return err
}

// stop closes the listeners and every session and waits for their goroutines.
func (s *Server) stop() error {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.listeners, s.addrs = nil, nil, nil
	s.stopping = true
	var sessions []*session
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.slots = map[string]map[string]*session{}
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close() // listeners and REST connections; hijacked ones are ours to close
	}
	for _, ss := range sessions {
		ss.kill()
	}
	s.serveWG.Wait()
	s.sessionWG.Wait()
	s.mu.Lock()
	s.stopping = false
	s.mu.Unlock()
	return err
}

package redir

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"
)

// ServerConfig is the AMT side of the handshake, for the simulator firmware.
type ServerConfig struct {
	// User, Password and Realm are the AMT account and digest realm (DefaultRealm if empty:
	// MPS only answers a challenge with a non-empty realm). An empty User or Password makes
	// every attempt fail.
	User, Password, Realm string
	// Status is sent in StartRedirectionSessionReply instead of success (fault injection:
	// StatusBusy, StatusUnsupported, …); 0 means success.
	Status byte
	// Nonce makes the nonce of each challenge; default 16 random bytes in hex. It is called
	// for every challenge; an empty result fails the session.
	Nonce func() string
	// Types are the auth types offered to a query; default {3, 4}. Only 3 and 4 can succeed:
	// an attempt with another type is answered "not supported".
	Types []byte
	// MaxAttempts bounds failed digest responses (default 3); then the session is closed.
	MaxAttempts int
	// ProtocolVersion, FirmwareVersion, OEMIANA, OEMData fill the start reply (real values
	// unconfirmed). OEMIANA defaults to Intel's enterprise number 343 when 0.
	ProtocolVersion, FirmwareVersion uint16
	OEMIANA                          uint32
	OEMData                          []byte
	// KVMStartReply is bytes 1–7 of the 0x41 answer (zeros by default; meaning unconfirmed).
	KVMStartReply [7]byte
	// Timeout bounds the handshake when ctx has no earlier deadline (DefaultTimeout if 0).
	Timeout time.Duration
	// Logger gets debug lines; slog.Default() if nil.
	Logger *slog.Logger
}

// DefaultRealm is shaped like AMT's digest realms ("Digest:" and 32 hex digits).
const DefaultRealm = "Digest:00000000000000000000000000000000"

// maxServerMessages bounds the messages a client may send before KVM starts, so that a
// client looping on queries or challenges cannot hold the session forever.
const maxServerMessages = 32

// Serve runs the AMT side of a KVM redirection handshake on conn and returns nil once it has
// answered KVMStart: the caller then serves RFB on conn (nothing past the 0x40 message has
// been read).
//
// It requires StartRedirectionSession KVMR (another protocol is refused with status 1 or 3
// and an error), answers the auth query, challenges each initial digest with a fresh nonce
// and verifies the response in constant time. A response is rejected (status 1 and a fresh
// challenge) unless user, realm, uri and qop are the expected ones, the nonce is the one
// outstanding, nc and cnonce are present and the digest matches; a nonce is good for one
// response only. Each failure counts against MaxAttempts.
//
// Messages with a known length that make no sense before authentication (KVMStart) are
// dropped, as MPS holds them back; a message of unknown type cannot be skipped (its length
// is unknown), so it ends the session with ErrProtocol and the caller closes conn.
func Serve(ctx context.Context, conn net.Conn, cfg ServerConfig) error {
	if cfg.Nonce == nil {
		cfg.Nonce = func() string { return randomHex(16) }
	}
	if cfg.Types == nil {
		cfg.Types = []byte{byte(AuthDigestNoQOP), byte(AuthDigest)}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.OEMIANA == 0 {
		cfg.OEMIANA = 343
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := watch(ctx, conn, cfg.Timeout)
	defer w.stop()
	s := &serverSession{conn: conn, cfg: cfg, w: w}
	return s.run()
}

type serverSession struct {
	conn     net.Conn
	cfg      ServerConfig
	w        *watcher
	nonce    string // outstanding challenge nonce; "" when none
	failures int
	authed   bool
}

func (s *serverSession) run() error {
	if err := s.start(); err != nil {
		return err
	}
	for range maxServerMessages {
		m, err := s.read()
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case AuthenticateSession:
			if err := s.authenticate(m); err != nil {
				return err
			}
		case KVMStart:
			if !s.authed {
				s.cfg.Logger.Debug("amt redirection server: dropped KVM start before authentication")
				continue
			}
			return s.send(KVMStartReply{Payload: s.cfg.KVMStartReply})
		case EndRedirectionSession:
			return ErrSessionEnded
		default:
			return protocolErrorf("unexpected %T during authentication", m)
		}
	}
	return protocolErrorf("more than %d messages before KVM started", maxServerMessages)
}

func (s *serverSession) start() error {
	m, err := s.read()
	if err != nil {
		return err
	}
	start, ok := m.(StartRedirectionSession)
	if !ok {
		return protocolErrorf("expected StartRedirectionSession (0x10), got %T", m)
	}
	status := s.cfg.Status
	if status == StatusSuccess {
		switch start.Protocol {
		case ProtocolKVM:
		case ProtocolSOL, ProtocolIDER:
			status = StatusUnsupported
		default:
			status = StatusTypeUnknown
		}
	}
	reply := StartRedirectionSessionReply{
		Status: status, ProtocolVersion: s.cfg.ProtocolVersion, FirmwareVersion: s.cfg.FirmwareVersion,
		OEMIANA: s.cfg.OEMIANA, OEMData: s.cfg.OEMData,
	}
	sendErr := s.send(reply)
	if err := ErrorForStatus(status); err != nil {
		// Refused either way; a client may well leave before reading all 13 bytes.
		return fmt.Errorf("refused a %q redirection session: %w", start.Protocol[:], err)
	}
	return sendErr
}

func (s *serverSession) authenticate(m AuthenticateSession) error {
	if s.authed {
		return protocolErrorf("authentication after success")
	}
	if m.Type == AuthQuery {
		return s.send(AuthenticateSessionReply{Status: AuthStatusSuccess, Type: AuthQuery, Data: s.cfg.Types})
	}
	if (m.Type != AuthDigest && m.Type != AuthDigestNoQOP) || !slices.Contains(s.cfg.Types, byte(m.Type)) {
		return s.send(AuthenticateSessionReply{Status: AuthStatusNotSupported, Type: m.Type})
	}
	d, err := ParseDigestFields(m.Type, m.Data)
	if err != nil {
		return s.fail(m.Type, fmt.Sprintf("malformed digest: %v", err))
	}
	if d.Nonce == "" {
		// The initial message (empty realm and nonce) asks for a challenge. It is also how an
		// attacker's empty-nonce response ends: with a challenge, never with success.
		if d.Response != "" {
			return s.fail(m.Type, "digest response without a nonce")
		}
		return s.challenge(m.Type)
	}
	if reason := s.verify(m.Type, d); reason != "" {
		return s.fail(m.Type, reason)
	}
	s.authed = true
	s.nonce = ""
	s.cfg.Logger.Debug("amt redirection server: authenticated", "user", d.User, "type", m.Type)
	return s.send(AuthenticateSessionReply{Status: AuthStatusSuccess, Type: m.Type})
}

// verify says why d does not authenticate, or "" when it does. The outstanding nonce is
// consumed whatever the outcome, so a response can never be replayed.
func (s *serverSession) verify(t AuthType, d DigestFields) string {
	outstanding := s.nonce
	s.nonce = ""
	switch {
	case s.cfg.User == "" || s.cfg.Password == "":
		return "no AMT account configured"
	case d.User == "":
		return "empty user"
	case outstanding == "":
		return "no challenge outstanding (replayed or unsolicited nonce)"
	case subtle.ConstantTimeCompare([]byte(d.Nonce), []byte(outstanding)) != 1:
		return "nonce is not the one issued"
	case d.URI != RedirectionURI:
		return "wrong uri"
	case d.Realm != s.cfg.Realm:
		return "wrong realm"
	case len(d.Response) != 32:
		return "response is not 32 hex digits"
	case t == AuthDigest && (d.QOP != "auth" || len(d.NC) != 8 || d.CNonce == ""):
		return "qop, nc or cnonce missing or wrong"
	}
	// User and digest compared in constant time, together, so timing tells nothing of which.
	want := ComputeResponse(t, s.cfg.Password, DigestFields{
		User: s.cfg.User, Realm: s.cfg.Realm, Nonce: outstanding, URI: RedirectionURI,
		CNonce: d.CNonce, NC: d.NC, QOP: d.QOP,
	})
	userOK := subtle.ConstantTimeCompare([]byte(d.User), []byte(s.cfg.User))
	respOK := subtle.ConstantTimeCompare([]byte(d.Response), []byte(want))
	if userOK&respOK != 1 {
		return "wrong user or digest"
	}
	return ""
}

// fail answers a rejected attempt with status 1 and a fresh challenge (MPS and clients read
// any type-4 failure as a challenge), and ends the session after MaxAttempts failures.
func (s *serverSession) fail(t AuthType, reason string) error {
	s.failures++
	s.cfg.Logger.Debug("amt redirection server: authentication failed", "reason", reason, "failures", s.failures)
	if s.failures >= s.cfg.MaxAttempts {
		_ = s.send(AuthenticateSessionReply{Status: AuthStatusFailure, Type: t})
		return fmt.Errorf("%w (last: %s)", ErrTooManyAttempts, reason)
	}
	return s.challenge(t)
}

func (s *serverSession) challenge(t AuthType) error {
	nonce := s.cfg.Nonce()
	if nonce == "" {
		return errors.New("AMT redirection server: the nonce generator returned an empty nonce")
	}
	s.nonce = nonce
	data, err := Challenge{Realm: s.cfg.Realm, Nonce: nonce, QOP: "auth"}.Encode(t)
	if err != nil {
		return fmt.Errorf("AMT redirection server: %w", err)
	}
	return s.send(AuthenticateSessionReply{Status: AuthStatusFailure, Type: t, Data: data})
}

func (s *serverSession) send(m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	if _, err := s.conn.Write(b); err != nil {
		return s.w.ioError("AMT redirection server: sending", err)
	}
	return nil
}

func (s *serverSession) read() (Message, error) {
	if err := s.w.check("AMT redirection server"); err != nil {
		return nil, err
	}
	m, err := ReadMessage(s.conn)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return nil, err
		}
		return nil, s.w.ioError("AMT redirection server: waiting for the client", err)
	}
	return m, nil
}

package redir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// ClientConfig is the client side of a KVM redirection handshake.
type ClientConfig struct {
	// User and Password are the AMT credentials for a direct connection. Through MPS
	// (ViaMPS) they are ignored: MPS replaces the digest with one from its vault.
	User, Password string
	// ViaMPS: the stream goes through MPS's relay with p=2. The client sends an empty user
	// and digest, and insists on auth type 4, the only one MPS rewrites.
	ViaMPS bool
	// Timeout bounds the handshake when ctx has no earlier deadline (DefaultTimeout if 0).
	Timeout time.Duration
	// Logger gets debug lines per step; slog.Default() if nil.
	Logger *slog.Logger
}

// Info is what the handshake learnt about the device.
type Info struct {
	ProtocolVersion uint16
	FirmwareVersion uint16
	OEMIANA         uint32
	OEMData         []byte
	// AuthTypes lists the types AMT offered; AuthType is the one used.
	AuthTypes []AuthType
	AuthType  AuthType
	// KVMStartReply is bytes 1–7 of AMT's 0x41 message, kept but not interpreted (unconfirmed).
	KVMStartReply [7]byte
}

// digestNC is the nonce count of the one response per challenge.
const digestNC = "00000001"

// Handshake runs the redirection protocol for a KVM session on conn: StartRedirectionSession
// KVMR, the auth-type query, digest authentication, then KVMStart. When it returns nil error
// the stream carries plain RFB, starting with the byte after AMT's 0x41 message (nothing
// past it has been read).
//
// Auth type: type 4 (digest with qop) when offered. Directly, type 3 (digest without qop)
// when 4 is missing, as MeshCentral and amtterm fall back; type 1 (password in clear) is
// never used. Through MPS only type 4 works, since MPS rewrites no other.
//
// conn should be a net.Conn (deadlines) or at least an io.Closer (closed when ctx ends);
// otherwise ctx is only checked between messages.
func Handshake(ctx context.Context, conn io.ReadWriter, cfg ClientConfig) (Info, error) {
	if !cfg.ViaMPS && cfg.User == "" {
		return Info{}, errors.New("AMT redirection: the AMT user name is empty: configure the AMT user (usually admin) and password")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	w := watch(ctx, conn, cfg.Timeout)
	defer w.stop()
	h := &clientHandshake{conn: conn, cfg: cfg, log: log, w: w}
	return h.run()
}

type clientHandshake struct {
	conn io.ReadWriter
	cfg  ClientConfig
	log  *slog.Logger
	w    *watcher
	info Info
}

func (h *clientHandshake) run() (Info, error) {
	if err := h.start(); err != nil {
		return Info{}, err
	}
	if err := h.authenticate(); err != nil {
		return Info{}, err
	}
	if err := h.send(KVMStart{}); err != nil {
		return Info{}, err
	}
	m, err := h.read()
	if err != nil {
		return Info{}, err
	}
	reply, ok := m.(KVMStartReply)
	if !ok {
		return Info{}, protocolErrorf("expected the KVM start reply (0x41), got %T", m)
	}
	h.info.KVMStartReply = reply.Payload
	h.log.Debug("amt redirection: KVM started", "payload", reply.Payload)
	return h.info, nil
}

func (h *clientHandshake) start() error {
	if err := h.send(StartKVM); err != nil {
		return err
	}
	m, err := h.read()
	if err != nil {
		return err
	}
	reply, ok := m.(StartRedirectionSessionReply)
	if !ok {
		return protocolErrorf("expected the start reply (0x11), got %T", m)
	}
	if err := ErrorForStatus(reply.Status); err != nil {
		return err
	}
	h.info.ProtocolVersion = reply.ProtocolVersion
	h.info.FirmwareVersion = reply.FirmwareVersion
	h.info.OEMIANA = reply.OEMIANA
	h.info.OEMData = reply.OEMData
	h.log.Debug("amt redirection: session started",
		"protocol", reply.ProtocolVersion, "firmware", reply.FirmwareVersion, "oem", reply.OEMIANA)
	return nil
}

func (h *clientHandshake) authenticate() error {
	reply, err := h.exchange(AuthenticateSession{Type: AuthQuery})
	if err != nil {
		return err
	}
	if reply.Status != AuthStatusSuccess || reply.Type != AuthQuery {
		return protocolErrorf("auth query answered with status %d, type %d", reply.Status, reply.Type)
	}
	for _, t := range reply.Data {
		h.info.AuthTypes = append(h.info.AuthTypes, AuthType(t))
	}
	t, err := h.chooseType()
	if err != nil {
		return err
	}
	h.info.AuthType = t
	h.log.Debug("amt redirection: authenticating", "offered", h.info.AuthTypes, "type", t, "via_mps", h.cfg.ViaMPS)

	user := h.cfg.User
	if h.cfg.ViaMPS {
		user = "" // MPS puts its own (admin) in
	}
	initial, err := DigestFields{User: user, URI: RedirectionURI}.Encode(t)
	if err != nil {
		return err
	}
	reply, err = h.exchange(AuthenticateSession{Type: t, Data: initial})
	if err != nil {
		return err
	}
	if done, err := authOutcome(reply, t, false); done || err != nil {
		return err
	}
	ch, err := ParseChallenge(t, reply.Data)
	if err != nil {
		return err
	}

	password := h.cfg.Password
	if h.cfg.ViaMPS {
		password = ""
	}
	d := digestReply(t, user, password, ch, randomHex(16), digestNC)
	data, err := d.Encode(t)
	if err != nil {
		return err
	}
	reply, err = h.exchange(AuthenticateSession{Type: t, Data: data})
	if err != nil {
		return err
	}
	_, err = authOutcome(reply, t, true)
	return err
}

// authOutcome reads a reply to a digest message: done when it is success; with final (the
// reply to our response) a failure is ErrAuthFailed, otherwise it must be the challenge.
func authOutcome(reply AuthenticateSessionReply, t AuthType, final bool) (done bool, err error) {
	switch {
	case reply.Status == AuthStatusNotSupported:
		return false, fmt.Errorf("%w: AMT answered %v authentication with 'not supported'", ErrUnsupported, t)
	case reply.Type != t:
		return false, protocolErrorf("%v authentication answered with type %d", t, reply.Type)
	case reply.Status == AuthStatusSuccess:
		return true, nil
	case final:
		return false, fmt.Errorf("%w (status %d)", ErrAuthFailed, reply.Status)
	case reply.Status != AuthStatusFailure:
		return false, protocolErrorf("digest challenge with status %d", reply.Status)
	}
	return false, nil
}

func (h *clientHandshake) chooseType() (AuthType, error) {
	offered := h.info.AuthTypes
	if slices.Contains(offered, AuthDigest) {
		return AuthDigest, nil
	}
	if h.cfg.ViaMPS {
		return 0, fmt.Errorf("%w: AMT does not offer digest authentication (type 4), the only one MPS can answer (offered %v)", ErrUnsupported, offered)
	}
	if slices.Contains(offered, AuthDigestNoQOP) {
		return AuthDigestNoQOP, nil
	}
	return 0, fmt.Errorf("%w: AMT offers no digest authentication (offered %v)", ErrUnsupported, offered)
}

func (h *clientHandshake) exchange(m AuthenticateSession) (AuthenticateSessionReply, error) {
	if err := h.send(m); err != nil {
		return AuthenticateSessionReply{}, err
	}
	r, err := h.read()
	if err != nil {
		return AuthenticateSessionReply{}, err
	}
	reply, ok := r.(AuthenticateSessionReply)
	if !ok {
		return reply, protocolErrorf("expected an authentication reply (0x14), got %T", r)
	}
	return reply, nil
}

func (h *clientHandshake) send(m Message) error {
	if err := h.w.check("AMT redirection handshake"); err != nil {
		return err
	}
	b, err := Encode(m)
	if err != nil {
		return err
	}
	if _, err := h.conn.Write(b); err != nil {
		return h.w.ioError("sending to AMT", err)
	}
	return nil
}

func (h *clientHandshake) read() (Message, error) {
	if err := h.w.check("AMT redirection handshake"); err != nil {
		return nil, err
	}
	m, err := ReadMessage(h.conn)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return nil, err
		}
		return nil, h.w.ioError("waiting for AMT", err)
	}
	return m, nil
}

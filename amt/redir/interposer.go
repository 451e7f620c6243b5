package redir

import (
	"fmt"
	"sync"
)

// maxHeld bounds the bytes an Interposer keeps back in each direction before the session is
// authenticated (MPS keeps them without limit).
const maxHeld = 64 << 10

// Interposer rewrites the redirection handshake between a client and a device as Intel's MPS
// does for relay sessions with p=2 (src/utils/redirectInterceptor.ts), for a fake MPS:
//
//   - From the client it passes StartRedirectionSession, EndRedirectionSession and
//     AuthenticateSession. A digest AuthenticateSession (type 4) is replaced: before the
//     device has sent a challenge with a non-empty realm, by an initial one (vault user, uri
//     /RedirectionService, other fields empty); after, by a response computed from the vault
//     credentials, the device's realm, nonce and qop, a cnonce of 10 hex digits fixed per
//     session and a nonce count from 1. Other auth types pass unchanged.
//   - From the device it passes StartRedirectionSessionReply and AuthenticateSessionReply,
//     noting each type-4 challenge (status 1).
//   - A message of any other type stops that direction: its bytes and all after are held
//     back, as MPS does (it cannot know their length). Client bytes held back are released
//     with the next client bytes after authentication succeeds; device bytes never are.
//   - Once the device answers a non-query AuthenticateSession with success, both directions
//     pass bytes unchanged.
//   - A StartRedirectionSessionReply with a non-zero status is held back, as MPS never
//     forwards it (the client sees silence); ForwardRefusal forwards it instead.
//
// MPS takes the user from its vault as "admin" (src/secrets/vault/index.ts). With an empty
// user or password MPS rewrites nothing, and neither does the Interposer.
//
// FromClient and FromDevice may be called from two goroutines, each with its direction's
// bytes in order; WebSocket messages and channel data need not align with messages.
type Interposer struct {
	// ForwardRefusal forwards a refusing StartRedirectionSessionReply and then passes all
	// bytes unchanged. Set it before the first call.
	ForwardRefusal bool

	user, password string
	cnonce         string

	mu          sync.Mutex
	nc          int
	realm       string
	nonce, qop  string
	clientAcc   []byte
	deviceAcc   []byte
	clientStuck bool
	deviceStuck bool
	direct      bool
}

// NewInterposer returns an Interposer that authenticates with user and password (MPS uses
// user "admin" and the device's AMT password from its vault).
func NewInterposer(user, password string) *Interposer {
	return &Interposer{user: user, password: password, cnonce: randomHex(5), nc: 1}
}

// Authenticated reports whether the device accepted the authentication, after which bytes
// pass unchanged.
func (i *Interposer) Authenticated() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.direct
}

// FromClient takes bytes read from the client and returns those to write to the device
// (possibly none; possibly b itself once the handshake is over). An error means the client
// sent more than can be held back; the session should be closed.
func (i *Interposer) FromClient(b []byte) ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.direct && len(i.clientAcc) == 0 {
		return b, nil
	}
	if i.direct {
		// What was held back (MPS releases it with the next client bytes too).
		out := append(i.clientAcc, b...)
		i.clientAcc = nil
		return out, nil
	}
	if err := hold(&i.clientAcc, b, "client"); err != nil {
		return nil, err
	}
	var out []byte
	for !i.clientStuck && len(i.clientAcc) > 0 {
		switch i.clientAcc[0] {
		case TypeStartRedirectionSession, TypeEndRedirectionSession, TypeAuthenticateSession:
		default:
			i.clientStuck = true
			continue
		}
		n, err := frameLen(i.clientAcc)
		if err != nil {
			return nil, fmt.Errorf("from the client: %w", err)
		}
		if n > len(i.clientAcc) {
			break
		}
		frame := i.clientAcc[:n]
		i.clientAcc = i.clientAcc[n:]
		if out, err = i.appendClientFrame(out, frame); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (i *Interposer) appendClientFrame(out, frame []byte) ([]byte, error) {
	if frame[0] != TypeAuthenticateSession || AuthType(frame[4]) != AuthDigest || i.user == "" || i.password == "" {
		return append(out, frame...), nil
	}
	d := DigestFields{User: i.user, URI: RedirectionURI}
	if i.realm != "" {
		d = digestReply(AuthDigest, i.user, i.password,
			Challenge{Realm: i.realm, Nonce: i.nonce, QOP: i.qop}, i.cnonce, fmt.Sprintf("%08x", i.nc))
		i.nc++
	}
	data, err := d.Encode(AuthDigest)
	if err != nil {
		return nil, fmt.Errorf("rewriting the client's digest: %w", err)
	}
	return AuthenticateSession{Type: AuthDigest, Data: data}.AppendBinary(out)
}

// FromDevice takes bytes read from the device and returns those to write to the client
// (possibly none; possibly b itself once the handshake is over).
func (i *Interposer) FromDevice(b []byte) ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.direct && len(i.deviceAcc) == 0 {
		return b, nil
	}
	if err := hold(&i.deviceAcc, b, "device"); err != nil {
		return nil, err
	}
	var out []byte
	for len(i.deviceAcc) > 0 {
		if i.direct {
			out = append(out, i.deviceAcc...)
			i.deviceAcc = nil
			break
		}
		if i.deviceStuck {
			break
		}
		switch i.deviceAcc[0] {
		case TypeStartRedirectionSessionReply, TypeAuthenticateSessionReply:
		default:
			i.deviceStuck = true
			continue
		}
		n, err := frameLen(i.deviceAcc)
		if err != nil {
			return nil, fmt.Errorf("from the device: %w", err)
		}
		if n > len(i.deviceAcc) {
			break
		}
		frame := i.deviceAcc[:n]
		if frame[0] == TypeStartRedirectionSessionReply && frame[1] != StatusSuccess {
			if !i.ForwardRefusal {
				i.deviceStuck = true
				continue
			}
			i.direct = true
			continue
		}
		i.deviceAcc = i.deviceAcc[n:]
		if frame[0] == TypeAuthenticateSessionReply {
			i.noteReply(frame)
		}
		out = append(out, frame...)
	}
	return out, nil
}

// noteReply keeps a type-4 challenge and notices success, as MPS does.
func (i *Interposer) noteReply(frame []byte) {
	status, t := frame[1], AuthType(frame[4])
	switch {
	case t == AuthDigest && status == AuthStatusFailure:
		if c, err := ParseChallenge(AuthDigest, frame[authHeaderLen:]); err == nil {
			i.realm, i.nonce, i.qop = c.Realm, c.Nonce, c.QOP
		}
	case t != AuthQuery && status == AuthStatusSuccess:
		i.direct = true
	}
}

func hold(acc *[]byte, b []byte, from string) error {
	if len(*acc)+len(b) > maxHeld {
		return fmt.Errorf("%w: the %s sent more than %d bytes before authentication", ErrProtocol, from, maxHeld)
	}
	*acc = append(*acc, b...)
	return nil
}

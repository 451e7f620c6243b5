package fakemps

import (
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// TokenFault makes the fake issue broken redirection tokens, to exercise the relay's checks
// through a client that fetches its own token.
type TokenFault int

const (
	TokenOK           TokenFault = iota
	TokenBadSignature            // signed with another secret
	TokenExpired                 // exp already past
	TokenWrongDevice             // deviceId names another device
)

// wrongDevice is the deviceId a TokenWrongDevice token carries.
const wrongDevice = "00000000-0000-0000-0000-000000000000"

// sign makes an MPS token: HS256 over {tenantId, iss, deviceId, exp} (MPS's signature.ts).
func (s *Server) sign(deviceID string, ttl time.Duration, secret []byte) (string, error) {
	tok, err := jwt.NewBuilder().
		Claim("tenantId", "").
		Issuer(s.cfg.Issuer).
		Claim("deviceId", deviceID).
		Expiration(s.now().Add(ttl).Truncate(time.Second)).
		Build()
	if err != nil {
		return "", fmt.Errorf("fakemps: build token: %w", err)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), secret))
	if err != nil {
		return "", fmt.Errorf("fakemps: sign token: %w", err)
	}
	return string(b), nil
}

// redirectionToken issues a device's relay token, broken as the current fault says.
func (s *Server) redirectionToken(guid string) (string, error) {
	s.mu.Lock()
	fault := s.tokenFault
	s.mu.Unlock()
	secret, ttl, dev := s.secret, s.cfg.RedirectionTTL, guid
	switch fault {
	case TokenBadSignature:
		secret = append([]byte("not-the-secret-"), s.secret...)
	case TokenExpired:
		ttl = -time.Minute
	case TokenWrongDevice:
		dev = wrongDevice
	}
	return s.sign(dev, ttl, secret)
}

var errNoExp = errors.New("no exp")

// verify checks a token's HS256 signature and that exp is still ahead (MPS: exp > now), and
// returns its deviceId.
func (s *Server) verify(token string) (string, error) {
	tok, err := jwt.ParseString(token, jwt.WithKey(jwa.HS256(), s.secret), jwt.WithValidate(false))
	if err != nil {
		return "", err
	}
	exp, ok := tok.Expiration()
	if !ok {
		return "", errNoExp
	}
	if !exp.After(s.now()) {
		return "", fmt.Errorf("expired at %s", exp.Format(time.RFC3339))
	}
	var dev string
	if err := tok.Get("deviceId", &dev); err != nil {
		return "", fmt.Errorf("no deviceId: %w", err)
	}
	return dev, nil
}

package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Audience separates what a token may be used for; a token is only accepted where its
// audience is expected.
type Audience string

// The audiences kvmrelay issues.
const (
	AudienceConsole Audience = "kvmrelay-console" // opens one console session's signaling
	AudienceAgent   Audience = "kvmrelay-agent"   // an agent's connection for one device
	AudienceLogin   Audience = "kvmrelay-login"   // a one-time console link, redeemed once
	AudienceAPI     Audience = "kvmrelay-api"     // a user's access token for the control-plane API
	AudienceDevice  Audience = "kvmrelay-device"  // a device cookie: this client signed in as this user before
)

// ErrInvalidToken is returned (wrapped) for every token that must not be accepted.
var ErrInvalidToken = errors.New("invalid token")

// Claims are what kvmrelay puts in and reads from its tokens.
type Claims struct {
	ID       string // jti: unique per token (one-time logins are tracked by it)
	Subject  string // the principal: a user or "demo" for consoles, the device for agents
	Audience Audience
	Device   string // the device a console or agent token is for
	// Agent is the device whose agent serves Device when that is another one: a gateway
	// (one kvmagent reaching many Intel AMT machines through MPS). Empty: Device's own agent.
	Agent string
	// Target is how Agent addresses Device (an AMT machine's GUID); set with Agent.
	Target  string
	Session string // the console session id (console tokens)
	// Grant is what a console token's participant may do (view, control, admin), derived from
	// the control plane when the link was made; the relay re-derives it at join and on every
	// rights change. Empty: control (tokens minted without a control plane).
	Grant  wire.Grant
	Tenant string // the organization (empty until the control plane exists)
	// Role is the principal's role in Tenant when the token was minted (API access tokens).
	Role string
	// Scope is the principal's device label selector (API access tokens); empty means all.
	Scope     map[string]string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// AgentDevice is the device whose agent carries the token's console: Agent when a gateway
// serves Device, Device itself otherwise.
func (c Claims) AgentDevice() string {
	if c.Agent != "" {
		return c.Agent
	}
	return c.Device
}

const (
	claimDevice  = "kvm_dev"
	claimSession = "kvm_sid"
	claimTenant  = "kvm_org"
	claimRole    = "kvm_role"
	claimScope   = "kvm_scope"
	claimAgent   = "kvm_agt"
	claimTarget  = "kvm_tgt"
	claimGrant   = "kvm_grant"
)

// maxScopeLabels bounds the scope claim a verified token may carry.
const maxScopeLabels = 64

// Issuer mints and verifies tokens for one relay deployment.
type Issuer struct {
	keys   *Keyring
	issuer string
	now    func() time.Time
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	Keys *Keyring
	// Name is the iss claim, e.g. the relay's public URL.
	Name string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewIssuer makes an Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Keys == nil || cfg.Name == "" {
		return nil, errors.New("auth: issuer needs keys and a name")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Issuer{keys: cfg.Keys, issuer: cfg.Name, now: now}, nil
}

// maxSkew tolerates small clock differences between relay nodes.
const maxSkew = 30 * time.Second

// Mint signs a token with the given claims, valid for ttl from now. It fills ID and the times.
func (i *Issuer) Mint(c Claims, ttl time.Duration) (string, Claims, error) {
	if c.Audience == "" || c.Subject == "" || ttl <= 0 {
		return "", Claims{}, errors.New("auth: mint needs an audience, a subject and a positive ttl")
	}
	now := i.now().UTC().Truncate(time.Second)
	c.IssuedAt, c.ExpiresAt = now, now.Add(ttl)
	if c.ID == "" {
		c.ID = NewID("t_")
	}
	b := jwt.NewBuilder().
		Issuer(i.issuer).
		Subject(c.Subject).
		Audience([]string{string(c.Audience)}).
		JwtID(c.ID).
		IssuedAt(c.IssuedAt).
		NotBefore(c.IssuedAt).
		Expiration(c.ExpiresAt)
	for name, v := range map[string]string{claimDevice: c.Device, claimSession: c.Session, claimTenant: c.Tenant, claimRole: c.Role,
		claimAgent: c.Agent, claimTarget: c.Target, claimGrant: string(c.Grant)} {
		if v != "" {
			b = b.Claim(name, v)
		}
	}
	if c.Grant != "" && !c.Grant.Valid() {
		return "", Claims{}, fmt.Errorf("auth: unknown grant %q", c.Grant)
	}
	if len(c.Scope) > maxScopeLabels {
		return "", Claims{}, fmt.Errorf("auth: scope has %d labels, at most %d", len(c.Scope), maxScopeLabels)
	}
	if len(c.Scope) == 0 {
		c.Scope = nil // as Verify returns it
	} else {
		scope := make(map[string]any, len(c.Scope))
		own := make(map[string]string, len(c.Scope))
		for k, v := range c.Scope {
			scope[k], own[k] = v, v
		}
		b = b.Claim(claimScope, scope)
		c.Scope = own
	}
	tok, err := b.Build()
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), i.keys.signing))
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return string(signed), c, nil
}

// Verify checks a token's signature (ES256, known kid), issuer, audience, and its
// exp/nbf/iat — exp is required — and returns its claims. Every failure wraps ErrInvalidToken.
func (i *Issuer) Verify(token string, aud Audience) (Claims, error) {
	if token == "" {
		return Claims{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	tok, err := jwt.ParseString(token,
		jwt.WithKeySet(i.keys.public, jws.WithRequireKid(true)),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(string(aud)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.IssuerKey),
		jwt.WithRequiredClaim(jwt.AudienceKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithAcceptableSkew(maxSkew),
		jwt.WithClock(jwt.ClockFunc(i.now)),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	c := Claims{Audience: aud}
	c.Subject, _ = tok.Subject()
	c.ID, _ = tok.JwtID()
	c.IssuedAt, _ = tok.IssuedAt()
	c.ExpiresAt, _ = tok.Expiration()
	for name, dst := range map[string]*string{claimDevice: &c.Device, claimSession: &c.Session, claimTenant: &c.Tenant, claimRole: &c.Role,
		claimAgent: &c.Agent, claimTarget: &c.Target, claimGrant: (*string)(&c.Grant)} {
		if err := tok.Get(name, dst); err != nil && tok.Has(name) {
			return Claims{}, fmt.Errorf("%w: claim %s: %w", ErrInvalidToken, name, err)
		}
	}
	if c.Grant != "" && !c.Grant.Valid() {
		return Claims{}, fmt.Errorf("%w: claim %s: unknown grant %.32q", ErrInvalidToken, claimGrant, c.Grant)
	}
	if tok.Has(claimScope) {
		scope, err := scopeClaim(tok)
		if err != nil {
			return Claims{}, fmt.Errorf("%w: claim %s: %w", ErrInvalidToken, claimScope, err)
		}
		c.Scope = scope
	}
	return c, nil
}

// scopeClaim reads the scope claim: an object of at most maxScopeLabels string values.
// Anything else (a string, an array, a nested object, a number) is refused, never coerced.
func scopeClaim(tok jwt.Token) (map[string]string, error) {
	var raw any
	if err := tok.Get(claimScope, &raw); err != nil {
		return nil, err
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not an object but %T", raw)
	}
	if len(obj) > maxScopeLabels {
		return nil, fmt.Errorf("%d labels, at most %d", len(obj), maxScopeLabels)
	}
	scope := make(map[string]string, len(obj))
	for k, v := range obj {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("label %q is %T, not a string", k, v)
		}
		scope[k] = s
	}
	if len(scope) == 0 {
		return nil, nil
	}
	return scope, nil
}

// NewID returns prefix + 128 random bits, URL-safe: unguessable ids for sessions and tokens.
func NewID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms; a failure means no safe id exists.
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

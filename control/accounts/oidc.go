package accounts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// OIDCConfig accepts access tokens from an external OpenID Connect issuer (Keycloak and the
// like), verified against the issuer's JWKS.
type OIDCConfig struct {
	// Issuer is the iss claim, exactly; discovery reads Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Audience must be one of the token's aud values.
	Audience string
	// OrgClaim names the claim whose value is the organization's slug. When empty, Org is
	// the organization of every OIDC principal.
	OrgClaim string
	Org      string
	// RoleClaim names the claim holding a role name or a list of them (Keycloak:
	// "realm_access.roles"; dots walk into objects). RoleMap maps those names to roles; the
	// strongest mapped role wins; a token with none mapped is refused.
	RoleClaim string
	RoleMap   map[string]store.Role
	// ScopeClaim, when set, names the claim (dots walk into objects) that limits the principal
	// to devices with those labels, as a user's scope does: an object of string values
	// {"site": "fra1"}, a list of "key=value" strings, or one string "key=value,key=value".
	// The string "*" grants every device. A token without the claim, or with an empty,
	// malformed or oversized one, is refused: a broken IdP mapping must not mean every device.
	// When empty, OIDC principals see every device their role allows.
	ScopeClaim string
	// EmailClaim is copied to Principal.Email; default "email".
	EmailClaim string
	// Algorithms allowed; default and maximum {RS256, ES256}. Never none or HS*.
	Algorithms []string
	// HTTPClient fetches discovery and the JWKS; default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// AllowHTTP permits an http:// issuer and JWKS (a private network only).
	AllowHTTP bool
	// RefreshInterval is how often the JWKS is fetched again; default 15 min. A token whose
	// kid is unknown triggers one early refresh, at most once a minute.
	RefreshInterval time.Duration
}

// oidcAllowedAlgs is everything OIDCConfig.Algorithms may name.
var oidcAllowedAlgs = [...]string{"RS256", "ES256"}

const (
	oidcMaxDocBytes       = 1 << 20
	oidcMinRSABits        = 2048
	oidcMissRefreshPeriod = time.Minute
	oidcDiscoveryBackoff  = 10 * time.Second
)

// oidcVerifier verifies OIDC access tokens. Discovery is lazy (the issuer may be down when
// the relay starts) and retried at most every oidcDiscoveryBackoff; the JWKS lives in a jwk.Cache.
type oidcVerifier struct {
	cfg    OIDCConfig
	algs   map[string]jwa.SignatureAlgorithm
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	cache  *jwk.Cache
	cancel context.CancelFunc

	mu          sync.Mutex
	jwksURL     string
	lastAttempt time.Time
	lastErr     error
	lastMiss    time.Time
}

func newOIDCVerifier(cfg OIDCConfig, now func() time.Time, log *slog.Logger) (*oidcVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("accounts: OIDC needs an issuer and an audience")
	}
	iu, err := url.Parse(cfg.Issuer)
	if err != nil || iu.Host == "" || (iu.Scheme != "https" && !(cfg.AllowHTTP && iu.Scheme == "http")) {
		return nil, fmt.Errorf("accounts: OIDC issuer %q must be an https URL", cfg.Issuer)
	}
	if (cfg.OrgClaim == "") == (cfg.Org == "") {
		return nil, fmt.Errorf("accounts: OIDC needs exactly one of an organization claim and a fixed organization")
	}
	if cfg.RoleClaim == "" || len(cfg.RoleMap) == 0 {
		return nil, fmt.Errorf("accounts: OIDC needs a role claim and a role map")
	}
	for name, r := range cfg.RoleMap {
		if !r.Valid() {
			return nil, fmt.Errorf("accounts: OIDC role map: %q maps to unknown role %q", name, r)
		}
	}
	if cfg.EmailClaim == "" {
		cfg.EmailClaim = "email"
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = oidcAllowedAlgs[:]
	}
	algs := make(map[string]jwa.SignatureAlgorithm)
	for _, name := range cfg.Algorithms {
		ok := false
		for _, a := range oidcAllowedAlgs {
			ok = ok || a == name
		}
		alg, found := jwa.LookupSignatureAlgorithm(name)
		if !ok || !found {
			return nil, fmt.Errorf("accounts: OIDC algorithm %q not allowed (only RS256, ES256)", name)
		}
		algs[name] = alg
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 15 * time.Minute
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cache, err := jwk.NewCache(ctx, httprc.NewClient(httprc.WithWorkers(1)))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("accounts: OIDC key cache: %w", err)
	}
	return &oidcVerifier{cfg: cfg, algs: algs, client: client, now: now, log: log, cache: cache, cancel: cancel}, nil
}

func (v *oidcVerifier) close(ctx context.Context) error {
	err := v.cache.Shutdown(ctx)
	v.cancel()
	if err != nil {
		return fmt.Errorf("accounts: stop OIDC key cache: %w", err)
	}
	return nil
}

// keys returns the issuer's current key set, discovering and registering it on first use.
func (v *oidcVerifier) keys(ctx context.Context) (jwk.Set, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.jwksURL == "" {
		if now := v.now(); v.lastErr != nil && now.Sub(v.lastAttempt) < oidcDiscoveryBackoff {
			return nil, v.lastErr
		}
		v.lastAttempt = v.now()
		u, err := v.discover(ctx)
		if err == nil {
			err = v.cache.Register(ctx, u,
				jwk.WithHTTPClient(v.client),
				jwk.WithMinInterval(v.cfg.RefreshInterval),
				jwk.WithMaxInterval(v.cfg.RefreshInterval),
				jwk.WithMaxFetchBodySize(oidcMaxDocBytes))
			if err != nil {
				err = fmt.Errorf("accounts: OIDC: fetch JWKS %s: %w", u, err)
				_ = v.cache.Unregister(context.WithoutCancel(ctx), u)
			}
		}
		if err != nil {
			v.lastErr = err
			v.log.Warn("OIDC issuer unavailable", "issuer", v.cfg.Issuer, "err", err)
			return nil, err
		}
		v.jwksURL, v.lastErr = u, nil
	}
	set, err := v.cache.Lookup(ctx, v.jwksURL)
	if err != nil {
		return nil, fmt.Errorf("accounts: OIDC keys: %w", err)
	}
	return set, nil
}

// refreshAfterMiss fetches the JWKS again when a token names an unknown kid (the issuer may
// have rotated), at most once per oidcMissRefreshPeriod so forged kids cannot make us flood it.
func (v *oidcVerifier) refreshAfterMiss(ctx context.Context) (jwk.Set, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if v.jwksURL == "" || (!v.lastMiss.IsZero() && now.Sub(v.lastMiss) < oidcMissRefreshPeriod) {
		return nil, false
	}
	v.lastMiss = now
	set, err := v.cache.Refresh(ctx, v.jwksURL)
	if err != nil {
		v.log.Warn("OIDC JWKS refresh failed", "issuer", v.cfg.Issuer, "err", err)
		return nil, false
	}
	return set, true
}

// discover reads the issuer's metadata; its issuer must be the configured one exactly.
func (v *oidcVerifier) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(v.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("accounts: OIDC discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("accounts: OIDC discovery: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("accounts: OIDC discovery %s: status %s", u, res.Status)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, oidcMaxDocBytes)).Decode(&doc); err != nil {
		return "", fmt.Errorf("accounts: OIDC discovery %s: %w", u, err)
	}
	if doc.Issuer != v.cfg.Issuer {
		return "", fmt.Errorf("accounts: OIDC discovery %s names issuer %q, want %q", u, doc.Issuer, v.cfg.Issuer)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || ju.Host == "" || (ju.Scheme != "https" && !(v.cfg.AllowHTTP && ju.Scheme == "http")) {
		return "", fmt.Errorf("accounts: OIDC discovery %s: jwks_uri %q is not an https URL", u, doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}

// oidcIdentity is what a verified token says.
type oidcIdentity struct {
	Subject, Email, OrgSlug string
	Role                    store.Role
	Scope                   map[string]string // nil: every device
}

// verify checks an access token: the algorithm from the allow-list (chosen by us, not by the
// token: the key must be of that algorithm's type), a known kid, the signature, iss, aud, exp
// (required), nbf/iat with 30 s of skew, then maps the claims.
func (v *oidcVerifier) verify(ctx context.Context, token string) (oidcIdentity, error) {
	var id oidcIdentity
	msg, err := jws.ParseString(token)
	if err != nil {
		return id, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return id, fmt.Errorf("%w: %d signatures", ErrInvalidToken, len(sigs))
	}
	hdr := sigs[0].ProtectedHeaders()
	algHdr, ok := hdr.Algorithm()
	if !ok {
		return id, fmt.Errorf("%w: no alg", ErrInvalidToken)
	}
	alg, ok := v.algs[algHdr.String()]
	if !ok {
		return id, fmt.Errorf("%w: algorithm %q not allowed", ErrInvalidToken, algHdr.String())
	}
	kid, ok := hdr.KeyID()
	if !ok || kid == "" {
		return id, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	set, err := v.keys(ctx)
	if err != nil {
		return id, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	key, ok := set.LookupKeyID(kid)
	if !ok {
		if fresh, refreshed := v.refreshAfterMiss(ctx); refreshed {
			key, ok = fresh.LookupKeyID(kid)
		}
		if !ok {
			return id, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, kid)
		}
	}
	raw, err := verificationKey(key, alg)
	if err != nil {
		return id, fmt.Errorf("%w: key %q: %w", ErrInvalidToken, kid, err)
	}
	tok, err := jwt.ParseString(token,
		jwt.WithKey(alg, raw),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.IssuerKey),
		jwt.WithRequiredClaim(jwt.AudienceKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithAcceptableSkew(30*time.Second),
		jwt.WithClock(jwt.ClockFunc(v.now)),
	)
	if err != nil {
		return id, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	id.Subject, _ = tok.Subject()
	if id.Subject == "" {
		return id, fmt.Errorf("%w: empty sub", ErrInvalidToken)
	}
	var claims map[string]any
	if err := tokenClaims(tok, &claims); err != nil {
		return id, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if s, ok := claimPath(claims, v.cfg.EmailClaim).(string); ok {
		id.Email = normalizeEmail(s)
	}
	if v.cfg.OrgClaim == "" {
		id.OrgSlug = v.cfg.Org
	} else if s, ok := claimPath(claims, v.cfg.OrgClaim).(string); ok {
		id.OrgSlug = strings.ToLower(strings.TrimSpace(s))
	}
	if id.OrgSlug == "" {
		return id, fmt.Errorf("%w: OIDC token names no organization in %q", ErrForbidden, v.cfg.OrgClaim)
	}
	id.Role = v.mapRole(claimPath(claims, v.cfg.RoleClaim))
	if id.Role == "" {
		return id, fmt.Errorf("%w: OIDC token's %q maps to no role", ErrForbidden, v.cfg.RoleClaim)
	}
	if v.cfg.ScopeClaim != "" {
		scope, err := parseScopeClaim(claimPath(claims, v.cfg.ScopeClaim))
		if err != nil {
			return id, fmt.Errorf("%w: OIDC token's %q: %w", ErrForbidden, v.cfg.ScopeClaim, err)
		}
		id.Scope = scope
	}
	return id, nil
}

// scopeAll is the scope claim value that grants every device.
const scopeAll = "*"

// parseScopeClaim reads a scope claim (see OIDCConfig.ScopeClaim). Whatever it cannot read
// exactly is an error, never an empty (unrestricted) scope.
func parseScopeClaim(val any) (map[string]string, error) {
	scope := map[string]string{}
	add := func(pair string) error {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return fmt.Errorf("%q is not key=value", pair)
		}
		if old, dup := scope[k]; dup && old != v {
			return fmt.Errorf("label %q given twice with different values", k)
		}
		scope[k] = v
		return nil
	}
	switch x := val.(type) {
	case nil:
		return nil, errors.New("claim missing")
	case string:
		if strings.TrimSpace(x) == scopeAll {
			return nil, nil
		}
		for _, pair := range strings.Split(x, ",") {
			if err := add(pair); err != nil {
				return nil, err
			}
		}
	case []any:
		for _, e := range x {
			pair, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list element %v is not a string", e)
			}
			if err := add(pair); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, e := range x {
			v, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("label %q is not a string", k)
			}
			scope[k] = v
		}
	default:
		return nil, fmt.Errorf("a %T is no scope", val)
	}
	if len(scope) == 0 {
		return nil, errors.New(`empty scope (use "*" for every device)`)
	}
	if err := validScope(scope); err != nil {
		return nil, err
	}
	return scope, nil
}

// verificationKey exports a JWKS key for alg, refusing keys of another type, curve or
// declared algorithm, keys not for signing, and RSA keys under 2048 bits.
func verificationKey(key jwk.Key, alg jwa.SignatureAlgorithm) (any, error) {
	if ka, ok := key.Algorithm(); ok && ka.String() != alg.String() {
		return nil, fmt.Errorf("declared for %s, token says %s", ka, alg)
	}
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return nil, fmt.Errorf("key use %q", use)
	}
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, err
	}
	switch k := raw.(type) {
	case *rsa.PublicKey:
		if alg != jwa.RS256() {
			return nil, errors.New("an RSA key for a non-RSA algorithm")
		}
		if k.N.BitLen() < oidcMinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if alg != jwa.ES256() || k.Curve != elliptic.P256() {
			return nil, errors.New("an EC key of the wrong curve or algorithm")
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", raw)
	}
	return raw, nil
}

// tokenClaims reads all of a token's claims as JSON values.
func tokenClaims(tok jwt.Token, dst *map[string]any) error {
	b, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	return nil
}

// claimPath walks "a.b.c" through nested objects.
func claimPath(claims map[string]any, path string) any {
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[part]
	}
	return cur
}

// mapRole maps a claim value (a string or a list of strings) to the strongest configured role.
func (v *oidcVerifier) mapRole(val any) store.Role {
	var names []string
	switch x := val.(type) {
	case string:
		names = []string{x}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				names = append(names, s)
			}
		}
	}
	var best store.Role
	for _, n := range names {
		if r, ok := v.cfg.RoleMap[n]; ok && roleRank(r) > roleRank(best) {
			best = r
		}
	}
	return best
}

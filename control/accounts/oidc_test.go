package accounts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// testIdP is a local OIDC issuer over TLS: discovery and a JWKS of keys the test generated.
type testIdP struct {
	srv       *httptest.Server
	issuer    string // what discovery claims; srv.URL unless changed
	mu        sync.Mutex
	public    jwk.Set
	jwksHits  atomic.Int64
	discovery atomic.Int64
}

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	idp := &testIdP{public: jwk.NewSet()}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		idp.discovery.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": idp.issuer, "jwks_uri": idp.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		idp.jwksHits.Add(1)
		idp.mu.Lock()
		defer idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(idp.public)
	})
	idp.srv = httptest.NewTLSServer(mux)
	idp.issuer = idp.srv.URL
	t.Cleanup(idp.srv.Close)
	return idp
}

// addKey generates a private key, publishes its public half under kid (with alg and use
// when not empty) and returns the private JWK that signs with that kid.
func (idp *testIdP) addKey(t *testing.T, raw any, kid, alg, use string) jwk.Key {
	t.Helper()
	priv, err := jwk.Import(raw)
	require.NoError(t, err)
	require.NoError(t, priv.Set(jwk.KeyIDKey, kid))
	pub, err := priv.PublicKey()
	require.NoError(t, err)
	if alg != "" {
		a, ok := jwa.LookupSignatureAlgorithm(alg)
		require.True(t, ok)
		require.NoError(t, pub.Set(jwk.AlgorithmKey, a))
	}
	if use != "" {
		require.NoError(t, pub.Set(jwk.KeyUsageKey, use))
	}
	idp.mu.Lock()
	defer idp.mu.Unlock()
	require.NoError(t, idp.public.AddKey(pub))
	return priv
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	require.NoError(t, err)
	return k
}

func ecKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	require.NoError(t, err)
	return k
}

func oidcConfig(idp *testIdP) *OIDCConfig {
	return &OIDCConfig{
		Issuer:     idp.srv.URL,
		Audience:   "kvmrelay",
		OrgClaim:   "org",
		RoleClaim:  "realm_access.roles",
		RoleMap:    map[string]store.Role{"kvm-admin": store.RoleAdmin, "kvm-viewer": store.RoleViewer, "kvm-audit": store.RoleAuditor},
		HTTPClient: idp.srv.Client(),
	}
}

// claims are a token's claims as the test wants them; sign adds nothing.
func sign(t *testing.T, key jwk.Key, alg jwa.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		require.NoError(t, tok.Set(k, v))
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	require.NoError(t, err)
	return string(signed)
}

func TestOIDC(t *testing.T) {
	idp := newTestIdP(t)
	rsa1 := idp.addKey(t, rsaKey(t, 2048), "rsa1", "RS256", "sig")
	ec1 := idp.addKey(t, ecKey(t, elliptic.P256()), "ec1", "", "") // no alg: the token's must fit the key type
	rsaNoAlg := idp.addKey(t, rsaKey(t, 2048), "rsa-noalg", "", "")
	encKey := idp.addKey(t, rsaKey(t, 2048), "enc", "", "enc")
	p384 := idp.addKey(t, ecKey(t, elliptic.P384()), "p384", "", "")
	stranger, err := jwk.Import(rsaKey(t, 2048)) // signs, but is not in the JWKS
	require.NoError(t, err)
	require.NoError(t, stranger.Set(jwk.KeyIDKey, "stranger"))

	e := newEnv(t, func(c *Config) { c.OIDC = oidcConfig(idp) })
	ctx := context.Background()
	org, _ := e.owner(t)
	now := e.clock.Now()
	base := func() map[string]any {
		return map[string]any{
			"iss": idp.srv.URL, "aud": []string{"account", "kvmrelay"}, "sub": "kc-user-1",
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
			"email": " Alice@Acme.TEST", "org": "acme",
			"realm_access": map[string]any{"roles": []string{"offline_access", "kvm-viewer", "kvm-admin"}},
		}
	}
	with := func(mod func(map[string]any)) map[string]any {
		c := base()
		mod(c)
		return c
	}

	t.Run("RS256", func(t *testing.T) {
		p, err := e.svc.Authenticate(ctx, "Bearer "+sign(t, rsa1, jwa.RS256(), base()))
		require.NoError(t, err)
		assert.Equal(t, Principal{OrgID: org.ID, Kind: KindOIDC, ID: "kc-user-1", Email: "alice@acme.test", Role: store.RoleAdmin}, p)
		assert.Equal(t, "oidc:kc-user-1", p.String())
	})
	t.Run("RS256 by a key without alg", func(t *testing.T) {
		_, err := e.svc.Authenticate(ctx, sign(t, rsaNoAlg, jwa.RS256(), base()))
		require.NoError(t, err)
	})
	t.Run("ES256, role as a string", func(t *testing.T) {
		p, err := e.svc.Authenticate(ctx, sign(t, ec1, jwa.ES256(), with(func(c map[string]any) {
			c["realm_access"] = map[string]any{"roles": "kvm-audit"}
		})))
		require.NoError(t, err)
		assert.Equal(t, store.RoleAuditor, p.Role)
	})

	hsWithPublicKey := func() string {
		pubDER, err := x509.MarshalPKIXPublicKey(&rsa1Raw(t, rsa1).PublicKey)
		require.NoError(t, err)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		hk, err := jwk.Import(pemBytes)
		require.NoError(t, err)
		require.NoError(t, hk.Set(jwk.KeyIDKey, "rsa1"))
		return sign(t, hk, jwa.HS256(), base())
	}
	good := sign(t, rsa1, jwa.RS256(), base())
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"alg none", b64url.EncodeToString([]byte(`{"alg":"none","kid":"rsa1"}`)) + "." + parts[1] + "."},
		{"HS256 signed with the RSA public key", hsWithPublicKey()},
		{"empty signature", parts[0] + "." + parts[1] + "."},
		{"signature of another payload", parts[0] + "." + b64url.EncodeToString([]byte(`{"iss":"`+idp.srv.URL+`","sub":"root","aud":"kvmrelay","exp":9999999999,"org":"acme","realm_access":{"roles":["kvm-admin"]}}`)) + "." + parts[2]},
		{"RS384 is not on the allow-list", sign(t, rsa1, jwa.RS384(), base())},
		{"RS384 by a key without alg", sign(t, rsaNoAlg, jwa.RS384(), base())},
		{"PS256 by a key without alg", sign(t, rsaNoAlg, jwa.PS256(), base())},
		{"wrong audience", sign(t, rsa1, jwa.RS256(), with(func(c map[string]any) { c["aud"] = []string{"account"} }))},
		{"expired", sign(t, rsa1, jwa.RS256(), with(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }))},
		{"no exp", sign(t, rsa1, jwa.RS256(), with(func(c map[string]any) { delete(c, "exp") }))},
		{"not yet valid", sign(t, rsa1, jwa.RS256(), with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }))},
		{"no sub", sign(t, rsa1, jwa.RS256(), with(func(c map[string]any) { delete(c, "sub") }))},
		{"unknown kid", sign(t, stranger, jwa.RS256(), base())},
		{"RSA token naming the EC key", signWithKid(t, rsa1, "ec1", jwa.RS256(), base())},
		{"ES256 token naming an RS256 key", signWithKid(t, ec1, "rsa1", jwa.ES256(), base())},
		{"key for encryption", sign(t, encKey, jwa.RS256(), base())},
		{"P-384 key", sign(t, p384, jwa.ES384(), base())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Authenticate(ctx, tc.token)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidToken)
		})
	}

	t.Run("wrong issuer", func(t *testing.T) {
		tok := sign(t, rsa1, jwa.RS256(), with(func(c map[string]any) { c["iss"] = "https://evil.example" }))
		_, err := e.svc.Authenticate(ctx, tok)
		assert.ErrorIs(t, err, ErrInvalidToken)
		_, err = e.svc.oidc.verify(ctx, tok) // past the routing, the verifier's own check
		assert.ErrorIs(t, err, ErrInvalidToken)
	})

	for _, tc := range []struct {
		name string
		mod  func(map[string]any)
	}{
		{"no mapped role", func(c map[string]any) { c["realm_access"] = map[string]any{"roles": []string{"offline_access"}} }},
		{"role claim missing", func(c map[string]any) { delete(c, "realm_access") }},
		{"role claim of the wrong type", func(c map[string]any) { c["realm_access"] = map[string]any{"roles": 7} }},
		{"unknown organization", func(c map[string]any) { c["org"] = "globex" }},
		{"no organization", func(c map[string]any) { delete(c, "org") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Authenticate(ctx, sign(t, rsa1, jwa.RS256(), with(tc.mod)))
			assert.ErrorIs(t, err, ErrForbidden)
		})
	}

	t.Run("rotation: an unknown kid refreshes the JWKS once a minute", func(t *testing.T) {
		e.clock.Add(oidcMissRefreshPeriod) // the "unknown kid" case above spent this minute's refresh
		now = e.clock.Now()
		before := idp.jwksHits.Load()
		rsa2 := idp.addKey(t, rsaKey(t, 2048), "rsa2", "RS256", "sig")
		_, err := e.svc.Authenticate(ctx, sign(t, rsa2, jwa.RS256(), base()))
		require.NoError(t, err, "the new key is fetched")
		assert.Equal(t, before+1, idp.jwksHits.Load())
		rsa3 := idp.addKey(t, rsaKey(t, 2048), "rsa3", "RS256", "sig")
		_, err = e.svc.Authenticate(ctx, sign(t, rsa3, jwa.RS256(), base()))
		require.ErrorIs(t, err, ErrInvalidToken, "within the minute, no second fetch")
		assert.Equal(t, before+1, idp.jwksHits.Load())
		e.clock.Add(oidcMissRefreshPeriod)
		now = e.clock.Now()
		_, err = e.svc.Authenticate(ctx, sign(t, rsa3, jwa.RS256(), base()))
		require.NoError(t, err)
	})
	assert.Equal(t, int64(1), idp.discovery.Load(), "discovery once")
}

// signWithKid signs with key but names kid in the header.
func signWithKid(t *testing.T, key jwk.Key, kid string, alg jwa.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	k, err := key.Clone()
	require.NoError(t, err)
	require.NoError(t, k.Set(jwk.KeyIDKey, kid))
	return sign(t, k, alg, claims)
}

func rsa1Raw(t *testing.T, k jwk.Key) *rsa.PrivateKey {
	t.Helper()
	var raw rsa.PrivateKey
	require.NoError(t, jwk.Export(k, &raw))
	return &raw
}

func TestOIDCDiscoveryIssuerMismatch(t *testing.T) {
	idp := newTestIdP(t)
	key := idp.addKey(t, rsaKey(t, 2048), "rsa1", "RS256", "")
	idp.issuer = "https://other.example"
	e := newEnv(t, func(c *Config) { c.OIDC = oidcConfig(idp) })
	e.owner(t)
	now := e.clock.Now()
	tok := sign(t, key, jwa.RS256(), map[string]any{
		"iss": idp.srv.URL, "aud": "kvmrelay", "sub": "s", "exp": now.Add(time.Minute).Unix(), "org": "acme",
		"realm_access": map[string]any{"roles": []string{"kvm-admin"}},
	})
	_, err := e.svc.Authenticate(context.Background(), tok)
	assert.ErrorIs(t, err, ErrInvalidToken)
	assert.Zero(t, idp.jwksHits.Load(), "keys of an issuer that is not ours are never fetched")
	_, err = e.svc.Authenticate(context.Background(), tok)
	assert.ErrorIs(t, err, ErrInvalidToken)
	assert.Equal(t, int64(1), idp.discovery.Load(), "discovery is retried only after a backoff")
}

func TestOIDCConfigValidated(t *testing.T) {
	idp := newTestIdP(t)
	for _, tc := range []struct {
		name string
		mod  func(*OIDCConfig)
	}{
		{"http issuer", func(c *OIDCConfig) { c.Issuer = "http://idp.example" }},
		{"no audience", func(c *OIDCConfig) { c.Audience = "" }},
		{"HS256 allowed", func(c *OIDCConfig) { c.Algorithms = []string{"RS256", "HS256"} }},
		{"none allowed", func(c *OIDCConfig) { c.Algorithms = []string{"none"} }},
		{"org claim and fixed org", func(c *OIDCConfig) { c.Org = "acme" }},
		{"neither org claim nor org", func(c *OIDCConfig) { c.OrgClaim = "" }},
		{"no role map", func(c *OIDCConfig) { c.RoleMap = nil }},
		{"unknown role", func(c *OIDCConfig) { c.RoleMap = map[string]store.Role{"x": "god"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oidcConfig(idp)
			tc.mod(cfg)
			_, err := New(Config{Store: sqliteStore(t), Issuer: testIssuer(t, testenv.NewClock(time.Time{})), OIDC: cfg, Argon2: cheapArgon2})
			assert.Error(t, err)
		})
	}
	cfg := oidcConfig(idp)
	cfg.Issuer, cfg.AllowHTTP = "http://idp.example", true
	s, err := New(Config{Store: sqliteStore(t), Issuer: testIssuer(t, testenv.NewClock(time.Time{})), OIDC: cfg, Argon2: cheapArgon2})
	require.NoError(t, err, "http when explicitly allowed")
	require.NoError(t, s.Close(context.Background()))
}

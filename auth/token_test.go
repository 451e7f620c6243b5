package auth

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func newTestIssuer(t *testing.T, clock *fakeClock) *Issuer {
	t.Helper()
	key, err := GenerateKey()
	require.NoError(t, err)
	ring, err := NewKeyring(key)
	require.NoError(t, err)
	iss, err := NewIssuer(IssuerConfig{Keys: ring, Name: "https://relay.test", Now: clock.Now})
	require.NoError(t, err)
	return iss
}

func TestMintVerifyRoundTrip(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	iss := newTestIssuer(t, clock)
	tok, minted, err := iss.Mint(Claims{Subject: "alice", Audience: AudienceConsole, Device: "dev1", Session: "s_1"}, 5*time.Minute)
	require.NoError(t, err)
	got, err := iss.Verify(tok, AudienceConsole)
	require.NoError(t, err)
	assert.Equal(t, minted, got)
	assert.Equal(t, "dev1", got.Device)
	assert.Equal(t, "s_1", got.Session)
	assert.Equal(t, clock.t.Add(5*time.Minute).UTC(), got.ExpiresAt)
}

// b64 encodes one JWT segment.
func b64(v any) string {
	data, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(data)
}

// TestVerifyRejects is SECURITY.md item 6: every malformed or forged token is refused.
func TestVerifyRejects(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	iss := newTestIssuer(t, clock)
	other := newTestIssuer(t, clock) // same name, different key: its kid is unknown to iss
	good, _, err := iss.Mint(Claims{Subject: "alice", Audience: AudienceConsole}, time.Minute)
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	require.Len(t, parts, 3)
	var header map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &header))
	kid := header["kid"].(string)
	now := clock.t.Unix()
	baseClaims := map[string]any{"iss": "https://relay.test", "sub": "alice", "aud": []string{"kvmrelay-console"}, "exp": now + 60, "iat": now}
	require.NotEmpty(t, kid)

	// HS256 signed with the relay's public key bytes: the classic algorithm confusion.
	pubDER, err := x509.MarshalPKIXPublicKey(&mustECKey(t, iss).PublicKey)
	require.NoError(t, err)
	hsTok, err := jwt.NewBuilder().Issuer("https://relay.test").Subject("alice").Audience([]string{"kvmrelay-console"}).Expiration(clock.t.Add(time.Minute)).Build()
	require.NoError(t, err)
	hsSigned, err := jwt.Sign(hsTok, jwt.WithKey(jwa.HS256(), pubDER))
	require.NoError(t, err)

	mint := func(c Claims, ttl time.Duration, by *Issuer) string {
		s, _, err := by.Mint(c, ttl)
		require.NoError(t, err)
		return s
	}
	// A correctly signed token that simply has no exp: jwx accepts it unless exp is required.
	noExp := func() string {
		tok, err := jwt.NewBuilder().Issuer("https://relay.test").Subject("alice").Audience([]string{"kvmrelay-console"}).IssuedAt(clock.t).Build()
		require.NoError(t, err)
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), iss.keys.signing))
		require.NoError(t, err)
		return string(signed)
	}
	cases := []struct {
		name  string
		token string
		aud   Audience
		later time.Duration // verify this long after minting
	}{
		{"empty", "", AudienceConsole, 0},
		{"garbage", "not.a.token", AudienceConsole, 0},
		{"alg none", b64(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + b64(baseClaims) + ".", AudienceConsole, 0},
		{"alg none without kid", b64(map[string]any{"alg": "none"}) + "." + b64(baseClaims) + ".", AudienceConsole, 0},
		{"HS256 signed with the public key", string(hsSigned), AudienceConsole, 0},
		{"empty signature", parts[0] + "." + parts[1] + ".", AudienceConsole, 0},
		{"signature of another token", parts[0] + "." + b64(baseClaims) + "." + parts[2], AudienceConsole, 0},
		{"no exp", noExp(), AudienceConsole, 0},
		{"expired", mint(Claims{Subject: "alice", Audience: AudienceConsole}, time.Second, iss), AudienceConsole, time.Second + maxSkew + time.Second},
		{"wrong audience", good, AudienceAgent, 0},
		{"unknown kid", mint(Claims{Subject: "alice", Audience: AudienceConsole}, time.Minute, other), AudienceConsole, 0},
		{"kid removed", b64(map[string]any{"alg": "ES256"}) + "." + parts[1] + "." + parts[2], AudienceConsole, 0},
	}
	minted := clock.t
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock.t = minted.Add(tc.later)
			defer func() { clock.t = minted }()
			_, err := iss.Verify(tc.token, tc.aud)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidToken)
		})
	}

	t.Run("wrong issuer", func(t *testing.T) {
		// The same key under another name: only the iss claim differs.
		elsewhere, err := NewIssuer(IssuerConfig{Keys: iss.keys, Name: "https://evil.example", Now: clock.Now})
		require.NoError(t, err)
		tok := mint(Claims{Subject: "alice", Audience: AudienceConsole}, time.Minute, elsewhere)
		_, err = iss.Verify(tok, AudienceConsole)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
}

func mustECKey(t *testing.T, iss *Issuer) *ecdsaPrivate {
	t.Helper()
	var raw ecdsaPrivate
	require.NoError(t, jwkExport(iss.keys.signing, &raw))
	return &raw
}

func TestRotationVerifiesRetiredKey(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	oldKey, err := GenerateKey()
	require.NoError(t, err)
	oldRing, err := NewKeyring(oldKey)
	require.NoError(t, err)
	oldIss, err := NewIssuer(IssuerConfig{Keys: oldRing, Name: "r", Now: clock.Now})
	require.NoError(t, err)
	tok, _, err := oldIss.Mint(Claims{Subject: "dev", Audience: AudienceAgent}, time.Minute)
	require.NoError(t, err)

	newKey, err := GenerateKey()
	require.NoError(t, err)
	newRing, err := NewKeyring(newKey, &oldKey.PublicKey)
	require.NoError(t, err)
	newIss, err := NewIssuer(IssuerConfig{Keys: newRing, Name: "r", Now: clock.Now})
	require.NoError(t, err)
	_, err = newIss.Verify(tok, AudienceAgent)
	require.NoError(t, err, "a token signed by the retired key still verifies during rotation")
}

func TestOneTimeRedeemsOnce(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	iss := newTestIssuer(t, clock)
	once := NewOneTime(clock.Now)
	tok, _, err := iss.Mint(Claims{Subject: "demo", Audience: AudienceLogin, Device: "d"}, time.Minute)
	require.NoError(t, err)
	c, err := once.Redeem(iss, tok)
	require.NoError(t, err)
	assert.Equal(t, "d", c.Device)
	_, err = once.Redeem(iss, tok)
	assert.ErrorIs(t, err, ErrAlreadyUsed)

	console, _, err := iss.Mint(Claims{Subject: "demo", Audience: AudienceConsole}, time.Minute)
	require.NoError(t, err)
	_, err = once.Redeem(iss, console)
	assert.ErrorIs(t, err, ErrInvalidToken, "a console token is not a login")
}

func TestLoadOrCreateKeyringPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateKeyring(dir)
	require.NoError(t, err)
	b, err := LoadOrCreateKeyring(dir)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	ia, err := NewIssuer(IssuerConfig{Keys: a, Name: "r", Now: clock.Now})
	require.NoError(t, err)
	ib, err := NewIssuer(IssuerConfig{Keys: b, Name: "r", Now: clock.Now})
	require.NoError(t, err)
	tok, _, err := ia.Mint(Claims{Subject: "x", Audience: AudienceAgent}, time.Minute)
	require.NoError(t, err)
	_, err = ib.Verify(tok, AudienceAgent)
	require.NoError(t, err)
}

// TestGatewayClaimsRoundTrip: a console of a machine a gateway serves carries the gateway and
// the machine's address on it through mint and verify.
func TestGatewayClaimsRoundTrip(t *testing.T) {
	iss := newTestIssuer(t, &fakeClock{t: time.Unix(1_800_000_000, 0)})
	in := Claims{Subject: "u1", Audience: AudienceConsole, Device: "d_amt1", Session: "s_1", Tenant: "org1",
		Agent: "d_gw", Target: "12345678-9abc-def0-1234-56789abcdef0"}
	tok, minted, err := iss.Mint(in, time.Minute)
	require.NoError(t, err)
	got, err := iss.Verify(tok, AudienceConsole)
	require.NoError(t, err)
	assert.Equal(t, minted, got)
	assert.Equal(t, "d_gw", got.AgentDevice())
	assert.Equal(t, in.Target, got.Target)

	own, _, err := iss.Mint(Claims{Subject: "u1", Audience: AudienceConsole, Device: "d_1", Session: "s_2"}, time.Minute)
	require.NoError(t, err)
	got, err = iss.Verify(own, AudienceConsole)
	require.NoError(t, err)
	assert.Equal(t, "d_1", got.AgentDevice(), "a device's own agent serves it")
	assert.Empty(t, got.Target)
}

// TestGrantClaimRoundTrip: a console token carries its participant's grant; an unknown one is
// not minted.
func TestGrantClaimRoundTrip(t *testing.T) {
	iss := newTestIssuer(t, &fakeClock{t: time.Unix(1_800_000_000, 0)})
	for _, g := range []wire.Grant{wire.GrantView, wire.GrantControl, wire.GrantAdmin, ""} {
		tok, minted, err := iss.Mint(Claims{Subject: "u1", Audience: AudienceConsole, Device: "d_1", Session: "s_1", Grant: g}, time.Minute)
		require.NoError(t, err)
		got, err := iss.Verify(tok, AudienceConsole)
		require.NoError(t, err)
		assert.Equal(t, minted, got)
		assert.Equal(t, g, got.Grant)
	}
	_, _, err := iss.Mint(Claims{Subject: "u1", Audience: AudienceConsole, Grant: "root"}, time.Minute)
	require.Error(t, err)
}

func TestAPIClaimsRoundTrip(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	iss := newTestIssuer(t, clock)
	for _, tc := range []struct {
		name  string
		in    Claims
		scope map[string]string
	}{
		{"role and scope", Claims{Subject: "u1", Audience: AudienceAPI, Tenant: "org1", Role: "operator", Scope: map[string]string{"site": "lab", "rack": "a-1"}}, map[string]string{"site": "lab", "rack": "a-1"}},
		{"no scope", Claims{Subject: "u1", Audience: AudienceAPI, Tenant: "org1", Role: "viewer"}, nil},
		{"empty scope is no scope", Claims{Subject: "u1", Audience: AudienceAPI, Tenant: "org1", Role: "viewer", Scope: map[string]string{}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, minted, err := iss.Mint(tc.in, 15*time.Minute)
			require.NoError(t, err)
			got, err := iss.Verify(tok, AudienceAPI)
			require.NoError(t, err)
			assert.Equal(t, minted, got)
			assert.Equal(t, tc.in.Role, got.Role)
			assert.Equal(t, tc.scope, got.Scope)
			assert.Equal(t, "org1", got.Tenant)

			_, err = iss.Verify(tok, AudienceConsole)
			assert.ErrorIs(t, err, ErrInvalidToken, "an API token is not a console token")
		})
	}

	t.Run("mint copies the scope", func(t *testing.T) {
		scope := map[string]string{"site": "lab"}
		_, minted, err := iss.Mint(Claims{Subject: "u1", Audience: AudienceAPI, Scope: scope}, time.Minute)
		require.NoError(t, err)
		scope["site"] = "elsewhere"
		assert.Equal(t, "lab", minted.Scope["site"])
	})

	t.Run("mint refuses an oversized scope", func(t *testing.T) {
		scope := map[string]string{}
		for i := range maxScopeLabels + 1 {
			scope[strings.Repeat("k", i+1)] = "v"
		}
		_, _, err := iss.Mint(Claims{Subject: "u1", Audience: AudienceAPI, Scope: scope}, time.Minute)
		assert.Error(t, err)
	})
}

// TestVerifyRejectsMalformedAPIClaims signs well-formed tokens whose role or scope claims have
// the wrong shape: Verify refuses them rather than coercing or dropping the claim (a dropped
// scope would widen access to every device).
func TestVerifyRejectsMalformedAPIClaims(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	iss := newTestIssuer(t, clock)
	tooMany := map[string]any{}
	for i := range maxScopeLabels + 1 {
		tooMany[strings.Repeat("k", i+1)] = "v"
	}
	for _, tc := range []struct {
		name  string
		claim string
		value any
	}{
		{"scope as a string", claimScope, "site=lab"},
		{"scope as an array", claimScope, []string{"site", "lab"}},
		{"scope with a number", claimScope, map[string]any{"site": 1}},
		{"scope with a nested object", claimScope, map[string]any{"site": map[string]any{"a": "b"}}},
		{"scope with null", claimScope, map[string]any{"site": nil}},
		{"scope too large", claimScope, tooMany},
		{"role as a number", claimRole, 7},
		{"role as an array", claimRole, []string{"owner"}},
		{"unknown grant", claimGrant, "superuser"},
		{"grant as a number", claimGrant, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := jwt.NewBuilder().Issuer("https://relay.test").Subject("u1").
				Audience([]string{string(AudienceAPI)}).IssuedAt(clock.t).Expiration(clock.t.Add(time.Minute)).
				Claim(tc.claim, tc.value).Build()
			require.NoError(t, err)
			signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), iss.keys.signing))
			require.NoError(t, err)
			_, err = iss.Verify(string(signed), AudienceAPI)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidToken)
		})
	}
}

package device

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kvmrelay/kvmrelay/control/ca"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCleanText(t *testing.T) {
	for name, tc := range map[string]struct {
		in, want string
		max      int
	}{
		"plain":                {"kvmagent 0.1.0", "kvmagent 0.1.0", 64},
		"markup kept verbatim": {`<script>alert(1)</script>`, `<script>alert(1)</script>`, 64},
		"C0 and DEL":           {"a\x00b\x1b[31mc\x7f\r\nd", "ab[31mcd", 64},
		"C1":                   {"a\u0085b\u009bc", "abc", 64},
		"bidi and zero width":  {"evil\u202Egnp.exe\u200B\u2066", "evilgnp.exe", 64},
		"line separators":      {"a\u2028b\u2029c", "abc", 64},
		"invalid UTF-8":        {"a\xffb", "a\uFFFDb", 64},
		"cut to max":           {strings.Repeat("x", 100), strings.Repeat("x", 10), 10},
		"cut on a rune":        {"aaaaaaaaaé", "aaaaaaaaa", 10},
		"trimmed":              {"  v1  ", "v1", 64},
		"only controls":        {"\x01\x02", "", 64},
	} {
		t.Run(name, func(t *testing.T) {
			got := CleanText(tc.in, tc.max)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, len(got), tc.max)
		})
	}
}

func TestCapabilitiesCappedAndRoundTrip(t *testing.T) {
	many := make([]string, 100)
	for i := range many {
		many[i] = "src" + strings.Repeat("y", 200)
	}
	c := Capabilities{Sources: many, Sizes: []string{"1920x1080", "", "\x00"}, Codecs: []string{"video/H264", "<img src=x onerror=alert(1)>"}}
	enc := EncodeCapabilities(c)
	assert.Contains(t, enc, "<img src=x onerror=alert(1)>", "stored verbatim, escaped where rendered")
	got, err := ParseCapabilities(enc)
	require.NoError(t, err)
	assert.Len(t, got.Sources, MaxItems)
	for _, s := range got.Sources {
		assert.Len(t, s, MaxItemLen)
	}
	assert.Equal(t, []string{"1920x1080"}, got.Sizes, "empty entries dropped")
	assert.Equal(t, []string{"video/H264", "<img src=x onerror=alert(1)>"}, got.Codecs)

	empty, err := ParseCapabilities("")
	require.NoError(t, err)
	assert.Equal(t, `{"sources":[],"sizes":[],"codecs":[]}`, EncodeCapabilities(empty))
	_, err = ParseCapabilities("{not json")
	assert.Error(t, err)
}

func TestSignalCleaned(t *testing.T) {
	for name, tc := range map[string]struct {
		in   *Signal
		want *Signal
	}{
		"absent":  {nil, nil},
		"live":    {&Signal{Source: "vnc://10.0.0.5:5900", State: SignalLive, Since: 5}, &Signal{Source: "vnc://10.0.0.5:5900", State: SignalLive, Since: 5}},
		"unknown": {&Signal{Source: "x", State: "on fire"}, nil},
		"hostile": {
			&Signal{Source: "vnc://h\u202e", State: SignalNone, Error: strings.Repeat("e", 2000) + "\x1b[2J", Since: -4},
			&Signal{Source: "vnc://h", State: SignalNone, Error: strings.Repeat("e", MaxSignalErrorLen), Since: 0},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCapabilities(EncodeCapabilities(Capabilities{Signal: tc.in}))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.Signal)
		})
	}
}

func TestOnline(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	for name, tc := range map[string]struct {
		d    store.Device
		want bool
	}{
		"never seen":            {store.Device{}, false},
		"just now":              {store.Device{LastSeen: at(0)}, true},
		"two beats missed":      {store.Device{LastSeen: at(-2 * HeartbeatInterval)}, true},
		"three beats missed":    {store.Device{LastSeen: at(-OfflineAfter)}, true},
		"more than three":       {store.Device{LastSeen: at(-OfflineAfter - time.Second)}, false},
		"seen ahead (skew)":     {store.Device{LastSeen: at(5 * time.Second)}, true},
		"revoked but heartbeat": {store.Device{LastSeen: at(0), RevokedAt: at(-time.Minute)}, false},
	} {
		assert.Equal(t, tc.want, Online(tc.d, now), name)
	}
}

func TestEnrollmentTokenHash(t *testing.T) {
	tok, hash := NewEnrollmentToken()
	assert.True(t, strings.HasPrefix(tok, ca.TokenPrefix))
	assert.Len(t, hash, 64)
	got, err := EnrollmentTokenHash(tok)
	require.NoError(t, err)
	assert.Equal(t, hash, got)
	for _, bad := range []string{"", tok[:len(tok)-1], tok + "=", "kvme_" + strings.Repeat("!", 43), strings.ToUpper(tok)} {
		_, err := EnrollmentTokenHash(bad)
		assert.ErrorIs(t, err, ca.ErrTokenRejected, "%q", bad)
	}
}

type brokenStore struct{ store.Store }

func (brokenStore) Lookup(context.Context, store.LookupKind, string) (string, error) {
	return "", errors.New("database down")
}

func TestStoreRevocations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := sqlite.Migrate(ctx, dir)
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	org, err := st.CreateOrganization(ctx, store.Organization{Name: "acme", Slug: "acme"})
	require.NoError(t, err)
	var live, gone store.Device
	require.NoError(t, st.Write(ctx, org.ID, func(tx store.Tx) error {
		var err error
		if live, err = tx.CreateDevice(ctx, store.Device{Name: "live"}); err != nil {
			return err
		}
		if gone, err = tx.CreateDevice(ctx, store.Device{Name: "gone"}); err != nil {
			return err
		}
		return tx.RevokeDevice(ctx, gone.ID, time.Now())
	}))
	revs := StoreRevocations{Store: st}
	for name, tc := range map[string]struct {
		checker StoreRevocations
		id      string
		revoked bool
		err     bool
	}{
		"live":                  {revs, live.ID, false, false},
		"revoked":               {revs, gone.ID, true, false},
		"unknown":               {revs, store.NewID(), true, false},
		"not a store id":        {revs, "dev-1", true, false},
		"store error":           {StoreRevocations{Store: brokenStore{st}}, live.ID, false, true},
		"no store fails closed": {StoreRevocations{}, live.ID, false, true},
	} {
		revoked, err := tc.checker.Revoked(ctx, tc.id, big.NewInt(1))
		if tc.err {
			assert.Error(t, err, name)
			continue
		}
		require.NoError(t, err, name)
		assert.Equal(t, tc.revoked, revoked, name)
	}
}

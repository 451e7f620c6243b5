package amt

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
)

func TestParseSpec(t *testing.T) {
	const guid = "12345678-9abc-def0-1234-56789abcdef0"
	tests := []struct {
		spec    string
		want    spec
		name    string
		wantErr string
	}{
		{spec: "amt+mps://ops@mps.example.com/" + guid,
			want: spec{scheme: SchemeMPS, viaMPS: true, base: &url.URL{Scheme: "https", Host: "mps.example.com"}, guid: guid, user: "ops", display: -1},
			name: "amt+mps://ops@mps.example.com/" + guid},
		{spec: "amt+mps+http://ops@10.0.0.2:3000/12345678-9ABC-DEF0-1234-56789ABCDEF0?bpp=8&display=1",
			want: spec{scheme: SchemeMPSHTTP, viaMPS: true, base: &url.URL{Scheme: "http", Host: "10.0.0.2:3000"}, guid: guid, user: "ops", depth: Depth8, display: 1},
			name: "amt+mps+http://ops@10.0.0.2:3000/" + guid},
		{spec: "amt://10.0.0.9", want: spec{scheme: SchemeDirect, addr: "10.0.0.9:16994", user: "admin", display: -1},
			name: "amt://admin@10.0.0.9:16994"},
		{spec: "amt://tech@[fd00::9]:16994?bpp=16", want: spec{scheme: SchemeDirect, addr: "[fd00::9]:16994", user: "tech", depth: Depth16, display: -1},
			name: "amt://tech@[fd00::9]:16994"},
		{spec: "amt+mps://ops:secret@mps.example.com/" + guid, wantErr: "KVMAGENT_MPS_PASSWORD"},
		{spec: "amt://admin:secret@10.0.0.9", wantErr: "KVMAGENT_AMT_PASSWORD"},
		{spec: "amt+mps://mps.example.com/" + guid, wantErr: "no MPS user"},
		{spec: "amt+mps://ops@mps.example.com/not-a-guid", wantErr: "8-4-4-4-12"},
		// No GUID: a gateway's spec.
		{spec: "amt+mps://ops@mps.example.com:4433/?bpp=8",
			want: spec{scheme: SchemeMPS, viaMPS: true, base: &url.URL{Scheme: "https", Host: "mps.example.com:4433"}, user: "ops", depth: Depth8, display: -1},
			name: "amt+mps://ops@mps.example.com:4433"},
		{spec: "amt+mps://ops@mps.example.com/" + guid + "?bpp=24", wantErr: "want auto, 16 or 8"},
		{spec: "amt+mps://ops@mps.example.com/" + guid + "?display=9", wantErr: "0…7"},
		{spec: "amt+mps://ops@mps.example.com/" + guid + "?zoom=2", wantErr: "unknown option"},
		{spec: "amt://10.0.0.9:99999", wantErr: "bad port"},
		{spec: "amt://10.0.0.9/path", wantErr: "unexpected path"},
		{spec: "amt:opaque", wantErr: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			u, err := url.Parse(tt.spec)
			require.NoError(t, err)
			got, err := parseSpec(u)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), "secret", "the error never repeats a password")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.name, got.String())
		})
	}
}

// TestGatewaySpecs: a spec without a GUID is a gateway's, one with a GUID a source's, and each
// factory says so of the other's.
func TestGatewaySpecs(t *testing.T) {
	const guid = "12345678-9ABC-def0-1234-56789abcdef0"
	opts := device.Options{Lookup: func(string) (string, bool) { return "pw", true }}
	u, err := url.Parse("amt+mps://ops@mps.example.com")
	require.NoError(t, err)
	gw, err := NewGateway(u, opts)
	require.NoError(t, err)
	assert.Equal(t, "amt+mps://ops@mps.example.com", gw.String())
	src, err := gw.Source(guid, device.NewConsent())
	require.NoError(t, err)
	assert.Equal(t, "amt+mps://ops@mps.example.com/12345678-9abc-def0-1234-56789abcdef0", src.String(), "GUIDs are lower-cased as MPS compares them")
	_, err = gw.Source("../../devices", nil)
	assert.ErrorContains(t, err, "8-4-4-4-12")

	_, err = NewSource(u, opts)
	assert.ErrorContains(t, err, "no device GUID", "a source needs its machine")

	one, err := url.Parse("amt+mps://ops@mps.example.com/" + guid)
	require.NoError(t, err)
	_, err = NewGateway(one, opts)
	assert.ErrorIs(t, err, device.ErrOneMachine)
	direct, err := url.Parse("amt://10.0.0.9")
	require.NoError(t, err)
	_, err = NewGateway(direct, opts)
	assert.ErrorIs(t, err, device.ErrOneMachine, "direct mode reaches one machine")

	_, err = NewGateway(u, device.Options{})
	assert.ErrorContains(t, err, MPSPasswordEnv)
}

package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/control/store/sqlite"
	"github.com/kvmrelay/kvmrelay/relay"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// TestTokenConsoleByName: `kvmrelay token console --device NAME` names a control-plane device
// by its id and a session of its organization (enrolled agents connect as the id: a link
// naming the name used to wait forever), whatever the case of the name; a name the control
// plane does not know still gets a bare link, for agents run with `kvmrelay token agent`, and
// the command says so.
func TestTokenConsoleByName(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	org, _, err := relay.CreateOwner(ctx, relay.Config{Listen: "127.0.0.1:0", DataDir: dir}, "Acme", "acme", "ops@acme.example", "correct horse battery staple")
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, dir)
	require.NoError(t, err)
	var dev store.Device
	require.NoError(t, st.Write(ctx, org.ID, func(tx store.Tx) error {
		dev, err = tx.CreateDevice(ctx, store.Device{Name: "rack12-node3"})
		return err
	}))
	require.NoError(t, st.Close())
	keys, err := auth.LoadOrCreateKeyring(dir)
	require.NoError(t, err)
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: relay.IssuerName})
	require.NoError(t, err)

	cases := []struct {
		name, device           string
		wantDevice, wantTenant string
		wantSession, wantNote  bool
	}{
		{"control-plane device by name", "rack12-node3", dev.ID, org.ID, true, false},
		{"name in another case", "RACK12-Node3", dev.ID, org.ID, true, false},
		{"device id", dev.ID, dev.ID, org.ID, true, false},
		{"unknown to the control plane", "pi-kvm-1", "pi-kvm-1", "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.NoError(t, runToken(ctx, []string{"console", "--device", tc.device, "--data-dir", dir, "--public-url", "http://relay.example"}, &out, &errOut))
			u, err := url.Parse(strings.TrimSpace(out.String()))
			require.NoError(t, err)
			assert.Equal(t, "relay.example", u.Host)
			code, ok := strings.CutPrefix(u.Fragment, "code=")
			require.True(t, ok, out.String())
			code, err = url.QueryUnescape(code)
			require.NoError(t, err)
			c, err := iss.Verify(code, auth.AudienceLogin)
			require.NoError(t, err)
			assert.Equal(t, tc.wantDevice, c.Device)
			assert.Equal(t, tc.wantTenant, c.Tenant)
			assert.Equal(t, tc.wantSession, c.Session != "")
			assert.Equal(t, wire.GrantControl, c.Grant, "control by default")
			if tc.wantNote {
				assert.Contains(t, errOut.String(), "No device")
			} else {
				assert.Empty(t, errOut.String())
				assert.Equal(t, "relay:operator", c.Subject)
			}
		})
	}

	// --grant chooses what the console may do; a grant this relay does not know is refused.
	for _, device := range []string{"rack12-node3", "pi-kvm-1"} {
		for _, g := range []wire.Grant{wire.GrantView, wire.GrantAdmin} {
			var out, errOut bytes.Buffer
			require.NoError(t, runToken(ctx, []string{"console", "--device", device, "--grant", string(g), "--data-dir", dir}, &out, &errOut))
			u, err := url.Parse(strings.TrimSpace(out.String()))
			require.NoError(t, err)
			code, err := url.QueryUnescape(strings.TrimPrefix(u.Fragment, "code="))
			require.NoError(t, err)
			c, err := iss.Verify(code, auth.AudienceLogin)
			require.NoError(t, err)
			assert.Equal(t, g, c.Grant, "%s --grant %s", device, g)
		}
	}
	err = runToken(ctx, []string{"console", "--device", "rack12-node3", "--grant", "root", "--data-dir", dir}, &bytes.Buffer{}, &bytes.Buffer{})
	assert.ErrorContains(t, err, `--grant "root": want view, control or admin`)
}

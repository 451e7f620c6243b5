package main

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

func TestOIDCFlags(t *testing.T) {
	base := []string{"--oidc-issuer", "https://idp.example/realms/ops", "--oidc-audience", "kvmrelay", "--oidc-org", "acme",
		"--oidc-role-claim", "realm_access.roles"}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(*testing.T, *oidcFlags)
	}{
		{name: "off", args: nil},
		{name: "settings without an issuer", args: []string{"--oidc-role-map", "ops=operator"}, wantErr: "need --oidc-issuer"},
		{name: "full", args: append(base, "--oidc-role-map", " kvm-admins=admin, kvm-ops = operator ,", "--oidc-scope-claim", "kvm_scope"),
			check: func(t *testing.T, o *oidcFlags) {
				cfg, err := o.config()
				require.NoError(t, err)
				require.NotNil(t, cfg)
				assert.Equal(t, map[string]store.Role{"kvm-admins": store.RoleAdmin, "kvm-ops": store.RoleOperator}, cfg.RoleMap)
				assert.Equal(t, "kvm_scope", cfg.ScopeClaim)
				assert.Equal(t, "acme", cfg.Org)
				assert.False(t, cfg.AllowHTTP)
			}},
		{name: "unknown role", args: append(base, "--oidc-role-map", "ops=root"), wantErr: `"ops=root" is not NAME=ROLE`},
		{name: "no role name", args: append(base, "--oidc-role-map", "=admin"), wantErr: "is not NAME=ROLE"},
		{name: "no equals", args: append(base, "--oidc-role-map", "admin"), wantErr: "is not NAME=ROLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			var o oidcFlags
			o.register(fs)
			require.NoError(t, fs.Parse(tc.args))
			cfg, err := o.config()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.args == nil {
				assert.Nil(t, cfg)
			}
			if tc.check != nil {
				tc.check(t, &o)
			}
		})
	}
}

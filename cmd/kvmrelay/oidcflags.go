package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// oidcFlags accept API access tokens from an external OpenID Connect issuer (Keycloak, Dex,
// Entra ID…) by its JWKS, mapping claims to an organization, a role and a device scope.
type oidcFlags struct {
	issuer, audience, org, orgClaim, roleClaim, roleMap, scopeClaim, emailClaim string
	allowHTTP                                                                   bool
}

func (o *oidcFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.issuer, "oidc-issuer", "", "also accept API access tokens from this OpenID Connect issuer (its iss, exactly; the JWKS is found by discovery)")
	fs.StringVar(&o.audience, "oidc-audience", "", "audience the issuer's tokens must carry (required with --oidc-issuer)")
	fs.StringVar(&o.org, "oidc-org", "", "organization slug of every OIDC user (or --oidc-org-claim)")
	fs.StringVar(&o.orgClaim, "oidc-org-claim", "", "claim holding the organization slug (dots walk into objects)")
	fs.StringVar(&o.roleClaim, "oidc-role-claim", "", "claim holding the user's group or role names, e.g. realm_access.roles (required with --oidc-issuer)")
	fs.StringVar(&o.roleMap, "oidc-role-map", "", "NAME=ROLE pairs, comma-separated, mapping those names to owner, admin, operator, viewer or auditor; the strongest wins, none refuses")
	fs.StringVar(&o.scopeClaim, "oidc-scope-claim", "", "claim limiting the user to devices with these labels ({\"site\":\"fra1\"}, [\"site=fra1\"] or \"site=fra1\"; \"*\" for all); a token without it is refused (default: no limit)")
	fs.StringVar(&o.emailClaim, "oidc-email-claim", "", "claim shown as the user's email (default email)")
	fs.BoolVar(&o.allowHTTP, "oidc-allow-http", false, "allow an http:// issuer (a private network only)")
}

// config is nil without --oidc-issuer; the accounts service checks the rest.
func (o *oidcFlags) config() (*accounts.OIDCConfig, error) {
	if o.issuer == "" {
		if o.audience != "" || o.org != "" || o.orgClaim != "" || o.roleClaim != "" || o.roleMap != "" || o.scopeClaim != "" {
			return nil, fmt.Errorf("the --oidc-… settings need --oidc-issuer")
		}
		return nil, nil
	}
	roles := map[string]store.Role{}
	for _, pair := range strings.Split(o.roleMap, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		name, role, ok := strings.Cut(pair, "=")
		r := store.Role(strings.TrimSpace(role))
		if !ok || strings.TrimSpace(name) == "" || !r.Valid() {
			return nil, fmt.Errorf("--oidc-role-map: %q is not NAME=ROLE with ROLE one of owner, admin, operator, viewer, auditor", pair)
		}
		roles[strings.TrimSpace(name)] = r
	}
	return &accounts.OIDCConfig{
		Issuer: o.issuer, Audience: o.audience, Org: o.org, OrgClaim: o.orgClaim,
		RoleClaim: o.roleClaim, RoleMap: roles, ScopeClaim: o.scopeClaim, EmailClaim: o.emailClaim,
		AllowHTTP: o.allowHTTP,
	}, nil
}

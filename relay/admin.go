package relay

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// CreateOwner bootstraps an organization and its first owner in the store cfg names (the
// relay's data directory, or PostgreSQL with DatabaseURL), for `kvmrelay admin create`. It
// works whether or not a relay is running on the same store.
func CreateOwner(ctx context.Context, cfg Config, orgName, orgSlug, email, password string) (store.Organization, store.User, error) {
	if err := cfg.setDefaults(); err != nil {
		return store.Organization{}, store.User{}, err
	}
	keys, err := auth.LoadOrCreateKeyring(cfg.DataDir)
	if err != nil {
		return store.Organization{}, store.User{}, err
	}
	iss, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Name: IssuerName})
	if err != nil {
		return store.Organization{}, store.User{}, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return store.Organization{}, store.User{}, err
	}
	defer st.Close()
	acc, err := accounts.New(accounts.Config{Store: st, Issuer: iss, PublicURL: cfg.PublicURL, Logger: cfg.Logger})
	if err != nil {
		return store.Organization{}, store.User{}, fmt.Errorf("relay: accounts: %w", err)
	}
	defer acc.Close(context.Background())
	return acc.CreateOwner(ctx, orgName, orgSlug, email, password)
}

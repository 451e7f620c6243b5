package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// errSpent is a single-use value presented a second time, on this node or any other.
var errSpent = errors.New("relay: already used")

// spendOnce records a single-use value of orgID in the store until expires. Every node of a
// deployment shares the store, so the second use is refused wherever it arrives, and a
// restarted node still remembers; the reconciler prunes what has expired.
func spendOnce(ctx context.Context, st store.Store, orgID string, kind store.SpendKind, key string, expires time.Time) error {
	err := st.Write(ctx, orgID, func(tx store.Tx) error { return tx.Spend(ctx, kind, key, expires) })
	switch {
	case errors.Is(err, store.ErrTokenReused):
		return fmt.Errorf("%s: %w", kind, errSpent)
	case err != nil:
		return fmt.Errorf("relay: record %s as used: %w", kind, err)
	}
	return nil
}

// spendConsoleLink retires a control-plane console link (one naming its organization) for
// the whole deployment. Links without an organization (the single-operator token path) are
// remembered by this node only, by auth.OneTime.
func (r *Relay) spendConsoleLink(ctx context.Context, login auth.Claims) error {
	if login.Tenant == "" {
		return nil
	}
	return spendOnce(ctx, r.store, login.Tenant, store.SpendConsoleLink, login.ID, login.ExpiresAt.Add(time.Minute))
}

// spentPruneInterval is how often expired single-use values are forgotten. Nothing depends on
// the timing: an expired value is refused for its expiry before the store is asked.
const spentPruneInterval = 10 * time.Minute

// spentPruner forgets expired single-use values in every organization, in the background.
type spentPruner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startSpentPruner(st store.Store, log *slog.Logger) *spentPruner {
	ctx, cancel := context.WithCancel(context.Background())
	p := &spentPruner{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(spentPruneInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := pruneSpent(ctx, st, time.Now()); err != nil && ctx.Err() == nil {
					log.Warn("pruning used console links and challenges failed; retrying later", "err", err)
				}
			}
		}
	}()
	return p
}

func (p *spentPruner) stop() {
	p.cancel()
	<-p.done
}

// pruneSpent forgets values that expired before now, organization by organization.
func pruneSpent(ctx context.Context, st store.Store, now time.Time) error {
	orgs, err := st.OrganizationIDs(ctx)
	if err != nil {
		return fmt.Errorf("relay: prune used values: %w", err)
	}
	var errs []error
	for _, org := range orgs {
		err := st.Write(ctx, org, func(tx store.Tx) error {
			_, err := tx.PruneSpent(ctx, now)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("organization %s: %w", org, err))
		}
	}
	return errors.Join(errs...)
}

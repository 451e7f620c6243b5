package device

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Report is one machines report of a gateway connection (signaling's wire.Machines, checked
// for bounds): Reset starts a full list, More says further parts of it follow.
type Report struct {
	Reset, More bool
	Up          []Discovered
	Down        []string
}

// Reports records gateways' machines reports in the store, per change: a machine's link goes
// up or down on its row (Tx.SetTargetLinks), and once a reconnecting gateway's full list is
// complete, what the store still has up and the list left out goes down. It keeps, per
// connection on this relay node, what the gateway reports now (GatewayLinks). Safe for
// concurrent use.
type Reports struct {
	store store.Store
	links *GatewayLinks
	now   func() time.Time
}

// NewReports makes Reports over st.
func NewReports(st store.Store) *Reports {
	return &Reports{store: st, links: NewGatewayLinks(), now: time.Now}
}

// Record applies one report of gateway gatewayID's connection conn in organization orgID.
// Targets are compared as the store keeps them (lower case); which of them are the gateway's
// devices the store decides.
func (r *Reports) Record(ctx context.Context, orgID, gatewayID, conn string, rep Report) error {
	up := make([]string, len(rep.Up))
	for i, u := range rep.Up {
		up[i] = strings.ToLower(u.Target)
	}
	down := make([]string, len(rep.Down))
	for i, t := range rep.Down {
		down[i] = strings.ToLower(t)
	}
	listed := r.links.Apply(gatewayID, conn, rep.Reset, rep.More, up, down)
	now := r.now()
	err := r.store.Write(ctx, orgID, func(tx store.Tx) error {
		if _, err := tx.SetTargetLinks(ctx, gatewayID, up, down, now); err != nil {
			return err
		}
		if !listed {
			return nil
		}
		// A full list is complete: what the store has up and the list left out went down
		// while the gateway was away (or connected to another node).
		stored, err := tx.LinkedTargets(ctx, gatewayID)
		if err != nil {
			return err
		}
		_, err = tx.SetTargetLinks(ctx, gatewayID, nil, r.links.Unlisted(gatewayID, stored), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("links of gateway %s: %w", gatewayID, err)
	}
	return nil
}

// MarkAdopted records the links of machines just adopted (Service.Adopt): their report was
// recorded before their rows existed. What the gateway reports now decides, so a machine that
// went down meanwhile stays down.
func (r *Reports) MarkAdopted(ctx context.Context, orgID, gatewayID string, adopted []Discovered) error {
	upNow := map[string]bool{}
	for _, t := range r.links.Up(gatewayID) {
		upNow[t] = true
	}
	var up []string
	for _, f := range adopted {
		if t := strings.ToLower(f.Target); upNow[t] {
			up = append(up, t)
		}
	}
	if len(up) == 0 {
		return nil
	}
	err := r.store.Write(ctx, orgID, func(tx store.Tx) error {
		_, err := tx.SetTargetLinks(ctx, gatewayID, up, nil, r.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("links of gateway %s's adopted machines: %w", gatewayID, err)
	}
	return nil
}

// Gone forgets a gateway connection that ended.
func (r *Reports) Gone(conn string) { r.links.Gone(conn) }

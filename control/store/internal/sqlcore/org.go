package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// CreateOrganization inserts the organization the transaction is scoped to.
func (t *Tx) CreateOrganization(ctx context.Context, o store.Organization) (store.Organization, error) {
	if o.ID != t.org {
		return o, fmt.Errorf("create organization %s in a transaction for %s: %w", o.ID, t.org, store.ErrInvalid)
	}
	if o.Name == "" {
		return o, fmt.Errorf("create organization: empty name: %w", store.ErrInvalid)
	}
	if !store.ValidSlug(o.Slug) {
		return o, fmt.Errorf("create organization: slug %q (want 1-63 of a-z, 0-9 and -): %w", o.Slug, store.ErrInvalid)
	}
	if o.Settings.IdleTimeout == 0 && o.Settings.MaxSessionDuration == 0 {
		o.Settings.IdleTimeout, o.Settings.MaxSessionDuration = 15*time.Minute, 8*time.Hour
	}
	o.CreatedAt = ts(o.CreatedAt)
	_, err := t.c.Exec(ctx, `INSERT INTO organizations (id, name, slug, idle_timeout_s, max_session_s, require_mfa, guest_links, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, o.Slug, int64(o.Settings.IdleTimeout/time.Second), int64(o.Settings.MaxSessionDuration/time.Second), o.Settings.RequireMFA,
		o.Settings.GuestLinks, o.CreatedAt)
	if err != nil {
		return o, fmt.Errorf("create organization %s: %w", o.ID, err)
	}
	return o, t.register(ctx, store.LookupOrgSlug, o.Slug)
}

// Organization returns the organization the transaction is scoped to.
func (t *Tx) Organization(ctx context.Context) (store.Organization, error) {
	var o store.Organization
	var idle, maxS int64
	var requireMFA, guestLinks bool
	var created timeCol
	err := t.c.QueryRow(ctx, `SELECT id, name, slug, idle_timeout_s, max_session_s, require_mfa, guest_links, created_at
		FROM organizations WHERE id = ?`, t.org).Scan(&o.ID, &o.Name, &o.Slug, &idle, &maxS, &requireMFA, &guestLinks, &created)
	if err != nil {
		return o, fmt.Errorf("organization %s: %w", t.org, err)
	}
	o.Settings = store.OrgSettings{IdleTimeout: time.Duration(idle) * time.Second, MaxSessionDuration: time.Duration(maxS) * time.Second,
		RequireMFA: requireMFA, GuestLinks: guestLinks}
	o.CreatedAt = created.T
	return o, nil
}

// UpdateSettings replaces the organization's settings.
func (t *Tx) UpdateSettings(ctx context.Context, s store.OrgSettings) error {
	if s.IdleTimeout < 0 || s.MaxSessionDuration < 0 {
		return fmt.Errorf("update settings: negative duration: %w", store.ErrInvalid)
	}
	n, err := t.c.Exec(ctx, `UPDATE organizations SET idle_timeout_s = ?, max_session_s = ?, require_mfa = ?, guest_links = ? WHERE id = ?`,
		int64(s.IdleTimeout/time.Second), int64(s.MaxSessionDuration/time.Second), s.RequireMFA, s.GuestLinks, t.org)
	return exactlyOne(n, err, "update settings of organization", t.org)
}

package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Org is the caller's organization and its settings.
type Org struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Slug         string `json:"slug"`
	IdleTimeoutS int64  `json:"idle_timeout_s"`
	MaxSessionS  int64  `json:"max_session_s"`
	RequireMFA   bool   `json:"require_mfa"`
	// GuestLinks: console participants may create view-only guest links.
	GuestLinks bool `json:"guest_links"`
	// Recording is the recording policy (off, on, required); RecordingKeys full keystroke
	// capture; RecordingRetentionDays how long recordings are kept.
	Recording              string    `json:"recording"`
	RecordingKeys          bool      `json:"recording_keys"`
	RecordingRetentionDays int       `json:"recording_retention_days"`
	CreatedAt              time.Time `json:"created_at"`
}

// OrgSettings is a change of settings: nil fields stay as they are.
type OrgSettings struct {
	IdleTimeoutS *int64 `json:"idle_timeout_s,omitempty"`
	MaxSessionS  *int64 `json:"max_session_s,omitempty"`
	RequireMFA   *bool  `json:"require_mfa,omitempty"`
	GuestLinks   *bool  `json:"guest_links,omitempty"`

	Recording              *string `json:"recording,omitempty"`
	RecordingKeys          *bool   `json:"recording_keys,omitempty"`
	RecordingRetentionDays *int    `json:"recording_retention_days,omitempty"`
}

// Org reads the caller's organization.
func (c *Client) Org(ctx context.Context) (Org, error) {
	var o Org
	if err := c.do(ctx, http.MethodGet, "/org", nil, nil, &o); err != nil {
		return Org{}, fmt.Errorf("read organization: %w", err)
	}
	return o, nil
}

// UpdateOrgSettings changes the organization's settings (owners) and returns it as changed.
func (c *Client) UpdateOrgSettings(ctx context.Context, s OrgSettings) (Org, error) {
	var o Org
	if err := c.do(ctx, http.MethodPatch, "/org/settings", nil, s, &o); err != nil {
		return Org{}, fmt.Errorf("change organization settings: %w", err)
	}
	return o, nil
}

package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Share is a share link of a console session (POST/GET /sessions/{id}/shares). Link carries
// the token and is set only in the answer that creates the share.
type Share struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"` // member or guest
	Session       string     `json:"session"`
	Device        string     `json:"device"`
	DeviceName    Text       `json:"device_name"`
	Link          string     `json:"link,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at"`
	CreatedBy     Text       `json:"created_by"`
	CreatedByName Text       `json:"created_by_name"`
	CreatedAt     time.Time  `json:"created_at"`
	// Joined, RevokedAt and Live are set in lists.
	Joined    *int       `json:"joined,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Live      *bool      `json:"live,omitempty"`
}

// NewShare asks for a share link: Kind "member" (a colleague who signs in) or "guest" (view
// only, no account, for TTL; 0 means the relay's default hour).
type NewShare struct {
	Kind string
	TTL  time.Duration
}

type newShareBody struct {
	Kind       string `json:"kind"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
}

// ShareSession creates a share link of console session sid.
func (c *Client) ShareSession(ctx context.Context, sid string, in NewShare) (Share, error) {
	var out Share
	body := newShareBody{Kind: in.Kind, TTLSeconds: int64(in.TTL / time.Second)}
	if err := c.do(ctx, http.MethodPost, "/sessions/"+seg(sid)+"/shares", nil, body, &out); err != nil {
		return Share{}, fmt.Errorf("share session %s: %w", sid, err)
	}
	return out, nil
}

// SessionShares lists the share links of console session sid, newest first.
func (c *Client) SessionShares(ctx context.Context, sid string) ([]Share, error) {
	var out struct {
		Shares []Share `json:"shares"`
	}
	if err := c.do(ctx, http.MethodGet, "/sessions/"+seg(sid)+"/shares", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list shares of session %s: %w", sid, err)
	}
	return out.Shares, nil
}

// RevokeShare revokes share link id of console session sid; its viewers are cut.
func (c *Client) RevokeShare(ctx context.Context, sid, id string) error {
	if err := c.do(ctx, http.MethodDelete, "/sessions/"+seg(sid)+"/shares/"+seg(id), nil, nil, nil); err != nil {
		return fmt.Errorf("revoke share %s of session %s: %w", id, sid, err)
	}
	return nil
}

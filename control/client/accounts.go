package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PasswordReset is the answer of issuing a reset link: Link is empty when the server mailed it.
type PasswordReset struct {
	Link      string    `json:"link"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
	// MailError is the server's word that mailing failed (Link is then set).
	MailError string `json:"mail_error,omitempty"`
}

// ResetDone is the answer of redeeming a reset link: the user and where they sign in.
type ResetDone struct {
	User
	OrgSlug string `json:"org_slug"`
	OrgName string `json:"org_name"`
}

// DisabledUser is the answer of disabling a user.
type DisabledUser struct {
	User            User `json:"user"`
	SessionsStopped int  `json:"sessions_stopped"`
}

// AuditHead names the newest entry of a verified chain.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// ChangePassword changes the logged-in user's password. The server ends every session of the
// user and answers with a new pair, which replaces the stored credentials (so this login goes
// on). With an API key the server refuses: keys have no password.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	var t Tokens
	in := map[string]string{"current_password": current, "new_password": next}
	if err := c.do(ctx, http.MethodPost, "/me/password", nil, in, &t); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if t.AccessToken == "" || t.RefreshToken == "" {
		return errors.New("change password: the password was changed, but the server answered without new tokens; log in again")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok, err := c.loadCredentials(); err != nil || !ok {
		return err // an API key given on the command line: nothing stored to replace
	}
	if err := c.saveCredentials(credentialsOf(c.server, t)); err != nil {
		return fmt.Errorf("change password: the password was changed, but the new tokens could not be stored (log in again): %w", err)
	}
	return nil
}

// ResetPasswordToken extracts the token from what a user pastes: the token itself or the
// whole reset link (…/console/#reset=TOKEN).
func ResetPasswordToken(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "#reset="); i >= 0 {
		s = s[i+len("#reset="):]
	}
	return s
}

// ResetPassword redeems a reset link's token with a new password. It needs no login.
func (c *Client) ResetPassword(ctx context.Context, token, password string) (ResetDone, error) {
	r, err := newRequest(http.MethodPost, "/password-resets/accept", nil, map[string]string{"token": ResetPasswordToken(token), "password": password})
	if err != nil {
		return ResetDone{}, err
	}
	var out ResetDone
	if err := c.send(ctx, r, "", &out); err != nil {
		return ResetDone{}, fmt.Errorf("reset password: %w", err)
	}
	return out, nil
}

// ResolveUser finds a user of the organization by id or email.
func (c *Client) ResolveUser(ctx context.Context, ref string) (User, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return User{}, &UsageError{Msg: "a user id or email is required"}
	}
	users, err := c.Users(ctx)
	if err != nil {
		return User{}, fmt.Errorf("resolve user %q: %w", ref, err)
	}
	for _, u := range users {
		if u.ID == ref || strings.EqualFold(u.Email, ref) {
			return u, nil
		}
	}
	return User{}, &APIError{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: fmt.Sprintf("no user has the id or email %q in your organization (kvmctl users list shows them)", ref)}
}

// IssuePasswordReset makes a one-time reset link for a user.
func (c *Client) IssuePasswordReset(ctx context.Context, userID string) (PasswordReset, error) {
	var out PasswordReset
	if err := c.do(ctx, http.MethodPost, "/users/"+seg(userID)+"/password-reset", nil, nil, &out); err != nil {
		return PasswordReset{}, fmt.Errorf("password reset for %s: %w", userID, err)
	}
	return out, nil
}

// DisableUser disables a user and ends their sessions and consoles.
func (c *Client) DisableUser(ctx context.Context, userID string) (DisabledUser, error) {
	var out DisabledUser
	if err := c.do(ctx, http.MethodPost, "/users/"+seg(userID)+"/disable", nil, nil, &out); err != nil {
		return DisabledUser{}, fmt.Errorf("disable user %s: %w", userID, err)
	}
	return out, nil
}

// EnableUser enables a disabled user.
func (c *Client) EnableUser(ctx context.Context, userID string) (User, error) {
	var out User
	if err := c.do(ctx, http.MethodPost, "/users/"+seg(userID)+"/enable", nil, nil, &out); err != nil {
		return User{}, fmt.Errorf("enable user %s: %w", userID, err)
	}
	return out, nil
}

// ResetMFA turns off a user's second factor (a lost authenticator).
func (c *Client) ResetMFA(ctx context.Context, userID string) error {
	if err := c.do(ctx, http.MethodDelete, "/users/"+seg(userID)+"/mfa", nil, nil, nil); err != nil {
		return fmt.Errorf("reset MFA of %s: %w", userID, err)
	}
	return nil
}

// VerifyAuditWitness is VerifyAudit that also asks the server whether the chain still holds
// witness, a head seen earlier (zero: none).
func (c *Client) VerifyAuditWitness(ctx context.Context, witness AuditHead) (AuditVerification, error) {
	var q url.Values
	if witness.Seq > 0 {
		q = url.Values{"witness_seq": {strconv.FormatInt(witness.Seq, 10)}, "witness_hash": {witness.Hash}}
	}
	var v AuditVerification
	if err := c.do(ctx, http.MethodGet, "/audit/verify", q, nil, &v); err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit: %w", err)
	}
	return v, nil
}

// witnesses is audit-witness.json: the head each organization's chain had at its last
// successful verification from this config directory, by server and organization id.
type witnesses map[string]AuditHead

func witnessKey(server, orgID string) string { return server + " " + orgID }

// Witness is the head recorded for the organization at the last verification (ok false: none
// yet, trust on first use).
func (c *Client) Witness(orgID string) (AuditHead, bool, error) {
	w := witnesses{}
	if _, err := readJSON(c.witnessPath(), &w); err != nil {
		return AuditHead{}, false, err
	}
	h, ok := w[witnessKey(c.server, orgID)]
	return h, ok && h.Seq > 0, nil
}

// SaveWitness records head as the organization's witness. A head older than the one recorded
// is not written (a verification that raced a newer one must not move the witness back).
func (c *Client) SaveWitness(ctx context.Context, orgID string, head AuditHead) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := c.lockDir(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	w := witnesses{}
	if _, err := readJSON(c.witnessPath(), &w); err != nil {
		return err
	}
	k := witnessKey(c.server, orgID)
	if old, ok := w[k]; ok && old.Seq > head.Seq {
		return nil
	}
	w[k] = head
	return writeJSON(c.witnessPath(), w, 0o600)
}

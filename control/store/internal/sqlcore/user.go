package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const userCols = `id, org_id, email, password_hash, role, disabled, totp_secret, totp_confirmed, totp_last_step,
	failed_logins, last_failed_at, scope, tokens_valid_after, created_at`

func scanUser(r Row) (store.User, error) {
	var u store.User
	var created, failed, validAfter timeCol
	var scope labelsCol
	err := r.Scan(&u.ID, &u.OrgID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, &u.TOTPSecret, &u.TOTPConfirmed,
		&u.TOTPLastStep, &u.FailedLogins, &failed, &scope, &validAfter, &created)
	u.CreatedAt, u.LastFailedAt, u.Scope, u.TokensValidAfter = created.T, failed.ptr(), scope, validAfter.ptr()
	return u, err
}

func validUser(u store.User) error {
	if u.Email == "" {
		return fmt.Errorf("user: empty email: %w", store.ErrInvalid)
	}
	if !u.Role.Valid() {
		return fmt.Errorf("user: role %q: %w", u.Role, store.ErrInvalid)
	}
	return nil
}

// CreateUser inserts a user; an empty ID is filled in. A duplicate email is ErrConflict.
func (t *Tx) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if err := fillID("user", &u.ID); err != nil {
		return u, err
	}
	if err := validUser(u); err != nil {
		return u, err
	}
	scope, err := encodeLabels(u.Scope)
	if err != nil {
		return u, err
	}
	u.OrgID, u.CreatedAt, u.FailedLogins, u.LastFailedAt = t.org, ts(u.CreatedAt), 0, nil
	u.TokensValidAfter = tsPtrVal(u.TokensValidAfter)
	if u.Scope == nil {
		u.Scope = map[string]string{}
	}
	_, err = t.c.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)`,
		u.ID, t.org, u.Email, u.PasswordHash, string(u.Role), u.Disabled, u.TOTPSecret, u.TOTPConfirmed, u.TOTPLastStep,
		scope, tsPtr(u.TokensValidAfter), u.CreatedAt)
	if err != nil {
		return u, fmt.Errorf("create user %s: %w", u.ID, err)
	}
	return u, nil
}

// User returns one user of the organization.
func (t *Tx) User(ctx context.Context, id string) (store.User, error) {
	if err := checkID("user", id); err != nil {
		return store.User{}, err
	}
	u, err := scanUser(t.c.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id = ?`, t.org, id))
	if err != nil {
		return u, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

// UserByEmail finds a user of the organization by exact email.
func (t *Tx) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(t.c.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE org_id = ? AND email = ?`, t.org, email))
	if err != nil {
		return u, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// Users lists the organization's users by email.
func (t *Tx) Users(ctx context.Context) ([]store.User, error) {
	rows, err := t.c.Query(ctx, `SELECT `+userCols+` FROM users WHERE org_id = ? ORDER BY email`, t.org)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return collect(rows, scanUser, "list users")
}

// UpdateUser writes the user's mutable fields.
func (t *Tx) UpdateUser(ctx context.Context, u store.User) error {
	if err := checkID("user", u.ID); err != nil {
		return err
	}
	if err := validUser(u); err != nil {
		return err
	}
	scope, err := encodeLabels(u.Scope)
	if err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE users SET email = ?, password_hash = ?, role = ?, disabled = ?, totp_secret = ?,
		totp_confirmed = ?, totp_last_step = ?, scope = ?, tokens_valid_after = ?
		WHERE org_id = ? AND id = ?`,
		u.Email, u.PasswordHash, string(u.Role), u.Disabled, u.TOTPSecret, u.TOTPConfirmed, u.TOTPLastStep, scope,
		tsPtr(u.TokensValidAfter), t.org, u.ID)
	return exactlyOne(n, err, "update user", u.ID)
}

// RecordLoginFailure increments the user's consecutive failures and returns the new count.
func (t *Tx) RecordLoginFailure(ctx context.Context, userID string, at time.Time) (int, error) {
	if err := checkID("user", userID); err != nil {
		return 0, err
	}
	var n int
	err := t.c.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1, last_failed_at = ?
		WHERE org_id = ? AND id = ? RETURNING failed_logins`, ts(at), t.org, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("record login failure of user %s: %w", userID, err)
	}
	return n, nil
}

// ResetLoginFailures clears the user's consecutive failures after a successful login.
func (t *Tx) ResetLoginFailures(ctx context.Context, userID string) error {
	if err := checkID("user", userID); err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE users SET failed_logins = 0 WHERE org_id = ? AND id = ?`, t.org, userID)
	return exactlyOne(n, err, "reset login failures of user", userID)
}

// collect scans every row with scan and closes rows.
func collect[T any](rows Rows, scan func(Row) (T, error), what string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

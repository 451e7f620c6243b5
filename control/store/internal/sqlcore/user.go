package sqlcore

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const userCols = `id, org_id, email, password_hash, role, disabled, totp_secret, created_at`

func scanUser(r Row) (store.User, error) {
	var u store.User
	var created timeCol
	err := r.Scan(&u.ID, &u.OrgID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, &u.TOTPSecret, &created)
	u.CreatedAt = created.T
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
	u.OrgID, u.CreatedAt = t.org, ts(u.CreatedAt)
	_, err := t.c.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, t.org, u.Email, u.PasswordHash, string(u.Role), u.Disabled, u.TOTPSecret, u.CreatedAt)
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
	n, err := t.c.Exec(ctx, `UPDATE users SET email = ?, password_hash = ?, role = ?, disabled = ?, totp_secret = ?
		WHERE org_id = ? AND id = ?`,
		u.Email, u.PasswordHash, string(u.Role), u.Disabled, u.TOTPSecret, t.org, u.ID)
	return exactlyOne(n, err, "update user", u.ID)
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

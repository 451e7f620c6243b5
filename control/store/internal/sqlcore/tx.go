package sqlcore

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// Tx implements store.Tx on a Conn for one organization.
type Tx struct {
	c       Conn
	org     string
	dialect Dialect
}

var _ store.Tx = (*Tx)(nil)

// NewTx scopes an open transaction to orgID. The caller has already told the database the
// tenant where it enforces one (PostgreSQL).
func NewTx(c Conn, orgID string, d Dialect) *Tx { return &Tx{c: c, org: orgID, dialect: d} }

// OrgID is the organization this transaction is scoped to.
func (t *Tx) OrgID() string { return t.org }

// checkID rejects ids that are not canonical UUIDs before they reach a query.
func checkID(what, id string) error {
	if !store.ValidID(id) {
		return fmt.Errorf("%s id %q: %w", what, id, store.ErrInvalid)
	}
	return nil
}

// fillID gives an empty id a fresh one and checks a given one.
func fillID(what string, id *string) error {
	if *id == "" {
		*id = store.NewID()
		return nil
	}
	return checkID(what, *id)
}

// exactlyOne turns an UPDATE that touched no row into ErrNotFound.
func exactlyOne(n int64, err error, what, id string) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
	}
	return nil
}

package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// RunTx opens a transaction scoped to orgID (read-only unless write), runs fn, and commits
// when fn returns nil or rolls back otherwise.
type RunTx func(ctx context.Context, orgID string, write bool, fn func(Conn) error) error

// Store implements store.Store given how a driver opens transactions.
type Store struct {
	run     RunTx
	dialect Dialect
	close   func() error
}

var _ store.Store = (*Store)(nil)

// NewStore builds a store.Store; closeFn releases the driver's handles.
func NewStore(run RunTx, d Dialect, closeFn func() error) *Store {
	return &Store{run: run, dialect: d, close: closeFn}
}

func (s *Store) tx(ctx context.Context, orgID string, write bool, fn func(*Tx) error) error {
	if err := checkID("organization", orgID); err != nil {
		return err
	}
	return s.run(ctx, orgID, write, func(c Conn) error { return fn(NewTx(c, orgID, s.dialect)) })
}

// Read runs fn in a read-only transaction scoped to orgID.
func (s *Store) Read(ctx context.Context, orgID string, fn func(store.Tx) error) error {
	return s.tx(ctx, orgID, false, func(t *Tx) error { return fn(t) })
}

// Write runs fn in a read-write transaction scoped to orgID.
func (s *Store) Write(ctx context.Context, orgID string, fn func(store.Tx) error) error {
	return s.tx(ctx, orgID, true, func(t *Tx) error { return fn(t) })
}

// CreateOrganization inserts a tenant inside a transaction scoped to that tenant, which is
// what PostgreSQL's WITH CHECK policy requires.
func (s *Store) CreateOrganization(ctx context.Context, o store.Organization) (store.Organization, error) {
	if err := fillID("organization", &o.ID); err != nil {
		return o, err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now()
	}
	var out store.Organization
	err := s.tx(ctx, o.ID, true, func(t *Tx) error {
		var err error
		out, err = t.CreateOrganization(ctx, o)
		return err
	})
	return out, err
}

// AppendAudit appends one entry in its own write transaction.
func (s *Store) AppendAudit(ctx context.Context, orgID string, rec store.AuditRecord) (store.AuditEntry, error) {
	var e store.AuditEntry
	err := s.tx(ctx, orgID, true, func(t *Tx) error {
		var err error
		e, err = t.AppendAudit(ctx, rec)
		return err
	})
	return e, err
}

// VerifyAudit walks orgID's chain in one read transaction, so it sees one snapshot.
func (s *Store) VerifyAudit(ctx context.Context, orgID string) (int64, error) {
	head, err := s.VerifyAuditChain(ctx, orgID, store.AuditHead{})
	return head.Seq, err
}

// VerifyAuditChain walks orgID's chain in one read transaction and checks its end against
// the anchored head and the witness.
func (s *Store) VerifyAuditChain(ctx context.Context, orgID string, witness store.AuditHead) (store.AuditHead, error) {
	var head store.AuditHead
	err := s.tx(ctx, orgID, false, func(t *Tx) error {
		var err error
		head, err = t.VerifyAudit(ctx, witness)
		return err
	})
	return head, err
}

// Close releases the driver's handles.
func (s *Store) Close() error {
	if err := s.close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

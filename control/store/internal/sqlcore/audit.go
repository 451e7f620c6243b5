package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/store"
)

const auditCols = `org_id, seq, prev_hash, hash, body`

func scanAuditRow(r Row) (store.AuditEntry, error) {
	var e store.AuditEntry
	err := r.Scan(&e.OrgID, &e.Seq, &e.PrevHash, &e.Hash, &e.Body)
	return e, err
}

// AppendAudit links rec after the organization's last entry. The dialect's lock (or SQLite's
// single writer) keeps two appends from reading the same last entry; the unique (org, seq) and
// (org, prev_hash) constraints would reject a fork even if it did not.
func (t *Tx) AppendAudit(ctx context.Context, rec store.AuditRecord) (store.AuditEntry, error) {
	if t.dialect.LockAuditChain != nil {
		if err := t.dialect.LockAuditChain(ctx, t.c, t.org); err != nil {
			return store.AuditEntry{}, fmt.Errorf("append audit: lock chain of %s: %w", t.org, err)
		}
	}
	last, err := scanAuditRow(t.c.QueryRow(ctx, `SELECT `+auditCols+` FROM audit_entries
		WHERE org_id = ? ORDER BY seq DESC LIMIT 1`, t.org))
	var prev *store.AuditEntry
	switch {
	case err == nil:
		prev = &last
	case errors.Is(err, store.ErrNotFound):
	default:
		return store.AuditEntry{}, fmt.Errorf("append audit: read chain head: %w", err)
	}
	if rec.ActorName == "" {
		if rec.ActorName, err = t.ActorName(ctx, rec.Actor); err != nil {
			return store.AuditEntry{}, fmt.Errorf("append audit: %w", err)
		}
	}
	e, err := store.NewAuditEntry(t.org, prev, rec)
	if err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	if _, err := t.c.Exec(ctx, `INSERT INTO audit_entries (`+auditCols+`) VALUES (?, ?, ?, ?, ?)`,
		t.org, e.Seq, e.PrevHash, e.Hash, e.Body); err != nil {
		return e, fmt.Errorf("append audit seq %d: %w", e.Seq, err)
	}
	n, err := t.c.Exec(ctx, `UPDATE organizations SET audit_head_seq = ?, audit_head_hash = ? WHERE id = ?`, e.Seq, e.Hash, t.org)
	if err := exactlyOne(n, err, "append audit: anchor the head of org", t.org); err != nil {
		return e, err
	}
	return e, nil
}

// ActorName implements store.Tx.
func (t *Tx) ActorName(ctx context.Context, actor string) (string, error) {
	kind, id, _ := strings.Cut(actor, ":")
	var query, prefix string
	switch kind {
	case "user":
		query = `SELECT email FROM users WHERE org_id = ? AND id = ?`
	case "apikey":
		query, prefix = `SELECT name FROM api_keys WHERE org_id = ? AND id = ?`, "API key "
	case "device":
		query, prefix = `SELECT name FROM devices WHERE org_id = ? AND id = ?`, "agent "
	default:
		return "", nil
	}
	if !store.ValidID(id) {
		return "", nil
	}
	var name string
	switch err := t.c.QueryRow(ctx, query, t.org, id).Scan(&name); {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("name of %s: %w", actor, err)
	}
	return prefix + name, nil
}

// Audit returns up to limit entries after afterSeq, decoded.
func (t *Tx) Audit(ctx context.Context, afterSeq int64, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("audit: limit %d: %w", limit, store.ErrInvalid)
	}
	rows, err := t.c.Query(ctx, `SELECT `+auditCols+` FROM audit_entries WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		t.org, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	out, err := collect(rows, scanAuditRow, "audit")
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := store.DecodeAuditEntry(&out[i]); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	return out, nil
}

// VerifyAudit streams the organization's chain through a store.ChainVerifier, then checks its
// end against the anchored head and the caller's witness.
func (t *Tx) VerifyAudit(ctx context.Context, witness store.AuditHead) (store.AuditHead, error) {
	var anchor store.AuditHead
	if err := t.c.QueryRow(ctx, `SELECT audit_head_seq, audit_head_hash FROM organizations WHERE id = ?`, t.org).
		Scan(&anchor.Seq, &anchor.Hash); err != nil {
		return store.AuditHead{}, fmt.Errorf("verify audit: read anchor: %w", err)
	}
	rows, err := t.c.Query(ctx, `SELECT `+auditCols+` FROM audit_entries WHERE org_id = ? ORDER BY seq`, t.org)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("verify audit: %w", err)
	}
	defer rows.Close()
	v := store.NewChainVerifier(t.org)
	var atAnchor, atWitness string
	for rows.Next() {
		e, err := scanAuditRow(rows)
		if err != nil {
			return v.Head(), fmt.Errorf("verify audit: %w", err)
		}
		if err := v.Next(e.OrgID, e.Seq, e.PrevHash, e.Hash, e.Body); err != nil {
			return v.Head(), err
		}
		if e.Seq == anchor.Seq {
			atAnchor = e.Hash
		}
		if e.Seq == witness.Seq {
			atWitness = e.Hash
		}
	}
	if err := rows.Err(); err != nil {
		return v.Head(), fmt.Errorf("verify audit: %w", err)
	}
	if err := v.Finish(witness, atWitness, "your earlier verification"); err != nil {
		return v.Head(), err
	}
	// Rows past the anchor were not appended by a relay (AppendAudit moves the anchor in the
	// same transaction): name the first of them.
	if anchor.Seq > 0 && v.Head().Seq > anchor.Seq {
		return v.Head(), &store.ChainError{OrgID: t.org, Seq: anchor.Seq + 1, Reason: fmt.Sprintf(
			"entries after seq %d were not appended through the relay (the anchored head is seq %d)", anchor.Seq, anchor.Seq)}
	}
	if err := v.Finish(anchor, atAnchor, "the anchored head"); err != nil {
		return v.Head(), err
	}
	return v.Head(), nil
}

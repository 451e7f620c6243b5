package store

import "fmt"

// ChainVerifier checks an organization's audit rows one at a time, in seq order, so a store
// can stream a long chain without holding it.
type ChainVerifier struct {
	org      string
	nextSeq  int64
	prevHash string
}

// NewChainVerifier starts at the genesis of org's chain.
func NewChainVerifier(orgID string) *ChainVerifier {
	return &ChainVerifier{org: orgID, nextSeq: 1, prevHash: GenesisHash}
}

// Next checks the next row as stored. It returns a *ChainError naming the first row that is
// altered, missing or out of place.
func (v *ChainVerifier) Next(orgID string, seq int64, prevHash, hash, body string) error {
	broken := func(at int64, format string, args ...any) error {
		return &ChainError{OrgID: v.org, Seq: at, Reason: fmt.Sprintf(format, args...)}
	}
	// A gap means the row that belongs at nextSeq was deleted or renumbered: name that place.
	if seq != v.nextSeq {
		return broken(v.nextSeq, "row missing or renumbered (next stored seq is %d)", seq)
	}
	if orgID != v.org {
		return broken(seq, "row belongs to org %s", orgID)
	}
	ab, _, err := decodeAudit(body)
	if err != nil {
		return broken(seq, "body unreadable: %v", err)
	}
	if ab.Org != v.org || ab.Seq != seq {
		return broken(seq, "body is for org %s seq %d", ab.Org, ab.Seq)
	}
	if prevHash != v.prevHash {
		return broken(seq, "prev_hash does not match the hash of seq %d", seq-1)
	}
	want, err := ChainHash(prevHash, body)
	if err != nil {
		return broken(seq, "%v", err)
	}
	if hash != want {
		return broken(seq, "hash does not match the body")
	}
	v.nextSeq, v.prevHash = seq+1, hash
	return nil
}

// AuditHead names a chain's newest entry: its seq and hash. The zero AuditHead is an empty
// chain (or, as a witness or anchor, none).
type AuditHead struct {
	Seq  int64
	Hash string
}

// Head is the last row verified so far.
func (v *ChainVerifier) Head() AuditHead {
	if v.nextSeq == 1 {
		return AuditHead{}
	}
	return AuditHead{Seq: v.nextSeq - 1, Hash: v.prevHash}
}

// Finish checks the verified chain's end against a head recorded elsewhere: the anchor the
// store wrote with the last append, or a witness a reader kept from an earlier verification.
// at is the hash the verified chain holds at the recorded seq ("" when it is shorter).
func (v *ChainVerifier) Finish(recorded AuditHead, at, what string) error {
	if recorded.Seq == 0 {
		return nil
	}
	head := v.Head()
	switch {
	case head.Seq < recorded.Seq:
		return &ChainError{OrgID: v.org, Seq: head.Seq + 1, Reason: fmt.Sprintf(
			"the chain ends at seq %d but %s records seq %d: the newest entries were removed", head.Seq, what, recorded.Seq)}
	case at != recorded.Hash:
		return &ChainError{OrgID: v.org, Seq: recorded.Seq, Reason: fmt.Sprintf(
			"the entry at seq %d is not the one %s records: the chain was rewritten from there", recorded.Seq, what)}
	}
	return nil
}

// Count is the number of rows verified so far.
func (v *ChainVerifier) Count() int64 { return v.nextSeq - 1 }

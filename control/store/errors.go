package store

import (
	"errors"
	"fmt"
)

// Sentinel errors; implementations wrap them with context, so compare with errors.Is.
var (
	ErrNotFound          = errors.New("store: not found")
	ErrConflict          = errors.New("store: conflict")
	ErrInvalid           = errors.New("store: invalid argument")
	ErrInvalidTransition = errors.New("store: invalid session state transition")
	ErrTokenInvalid      = errors.New("store: token unknown, used or expired")
	ErrTokenReused       = errors.New("store: single-use token already used (refresh token reused)")
	ErrSchemaTooNew      = errors.New("store: database schema is newer than this binary; upgrade kvmrelay")
	ErrSchemaTooOld      = errors.New("store: database schema is older than this binary; run `kvmrelay migrate`")
	ErrChainBroken       = errors.New("store: audit chain broken")
)

// SchemaError reports a schema version this binary cannot run on. It matches ErrSchemaTooNew
// or ErrSchemaTooOld with errors.Is.
type SchemaError struct {
	Have, Want int
	Err        error // ErrSchemaTooNew or ErrSchemaTooOld
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%v (database at version %d, binary knows %d)", e.Err, e.Have, e.Want)
}

func (e *SchemaError) Unwrap() error { return e.Err }

// ChainError names the first audit row that does not verify. It matches ErrChainBroken.
type ChainError struct {
	OrgID  string
	Seq    int64 // the row at this position is altered, missing or out of place
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("store: audit chain of org %s broken at seq %d: %s", e.OrgID, e.Seq, e.Reason)
}

func (e *ChainError) Unwrap() error { return ErrChainBroken }

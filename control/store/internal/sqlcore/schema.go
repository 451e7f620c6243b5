package sqlcore

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// CheckSchema compares the database's schema version with the newest this binary knows.
func CheckSchema(have, want int) error {
	switch {
	case have > want:
		return &store.SchemaError{Have: have, Want: want, Err: store.ErrSchemaTooNew}
	case have < want:
		return &store.SchemaError{Have: have, Want: want, Err: store.ErrSchemaTooOld}
	}
	return nil
}

// CheckMigratable refuses to migrate a database that is already past this binary.
func CheckMigratable(have, want int) error {
	if have > want {
		return fmt.Errorf("migrate: %w", &store.SchemaError{Have: have, Want: want, Err: store.ErrSchemaTooNew})
	}
	return nil
}

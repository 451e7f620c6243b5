package sqlite

import "github.com/kvmrelay/kvmrelay/control/store"

var _ store.Store = (*Store)(nil)

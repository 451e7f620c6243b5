package testpattern_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Next's waiters and the tests' helper goroutines must all be gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBounds(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	prevCeiling := time.Duration(0)
	for i := 0; i < 40; i++ {
		ceiling := min(b.Min<<min(i, 16), b.Max)
		d := b.Next()
		assert.GreaterOrEqual(t, d, ceiling/2, "attempt %d", i)
		assert.LessOrEqual(t, d, ceiling, "attempt %d", i)
		assert.GreaterOrEqual(t, ceiling, prevCeiling)
		prevCeiling = ceiling
	}
	assert.Equal(t, 40, b.Attempts())
	b.Reset()
	assert.LessOrEqual(t, b.Next(), b.Min)
}

package sqlcore

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDollar(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                              "SELECT 1",
		"a = ? AND b = ?":                       "a = $1 AND b = $2",
		"?,?,?,?,?,?,?,?,?,?,?":                 "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11",
		"SELECT pg_advisory_xact_lock(?::int4)": "SELECT pg_advisory_xact_lock($1::int4)",
	} {
		assert.Equal(t, want, Dollar(in), in)
	}
}

func TestCheckSchema(t *testing.T) {
	assert.NoError(t, CheckSchema(2, 2))
	assert.ErrorContains(t, CheckSchema(1, 2), "older")
	assert.ErrorContains(t, CheckSchema(3, 2), "newer")
	assert.NoError(t, CheckMigratable(1, 2))
	assert.Error(t, CheckMigratable(3, 2))
}

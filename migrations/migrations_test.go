package migrations

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestList(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ms, err := List(d)
			require.NoError(t, err)
			require.NotEmpty(t, ms)
			for i, m := range ms {
				assert.Equal(t, i+1, m.Version, m.Name)
				assert.NotEmpty(t, m.SQL, m.Name)
			}
			latest, err := Latest(d)
			require.NoError(t, err)
			assert.Equal(t, len(ms), latest)
		})
	}
}

func TestBothDialectsAtSameVersion(t *testing.T) {
	s, err := Latest(SQLite)
	require.NoError(t, err)
	p, err := Latest(Postgres)
	require.NoError(t, err)
	assert.Equal(t, s, p, "every schema step must exist for both stores")
}

func TestUnknownDialect(t *testing.T) {
	_, err := List("oracle")
	assert.Error(t, err)
}

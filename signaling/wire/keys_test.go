package wire

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeysRoundTrip: a keys batch and a session-start asking for keys survive the wire as
// the relay reads them, and a session-start without the flag leaves it out (older agents).
func TestKeysRoundTrip(t *testing.T) {
	k := Keys{Strokes: []KeyStroke{{T: 1_700_000_000_000, Usage: 0x04, Down: true}, {T: 1_700_000_000_080, Usage: 0x04}}, Dropped: 3}
	raw, err := Encode(TypeKeys, "s_1", k)
	require.NoError(t, err)
	env, err := Decode(raw)
	require.NoError(t, err)
	assert.Equal(t, TypeKeys, env.Type)
	assert.Equal(t, "s_1", env.SID)
	var got Keys
	require.NoError(t, DecodeData(env, &got))
	assert.Equal(t, k, got)
	require.NoError(t, got.Check())

	for _, capture := range []bool{true, false} {
		raw, err = Encode(TypeSessionStart, "s_1", SessionStart{Principal: "p", CaptureKeys: capture})
		require.NoError(t, err)
		assert.Equal(t, capture, strings.Contains(string(raw), `"capture_keys":true`))
		env, err = Decode(raw)
		require.NoError(t, err)
		var start SessionStart
		require.NoError(t, DecodeData(env, &start))
		assert.Equal(t, capture, start.CaptureKeys)
	}
}

func TestKeysCheck(t *testing.T) {
	stroke := func(ts int64) KeyStroke { return KeyStroke{T: ts, Usage: 0x04, Down: true} }
	many := make([]KeyStroke, MaxKeyStrokes+1)
	for i := range many {
		many[i] = stroke(1000)
	}
	tests := []struct {
		name string
		k    Keys
		ok   bool
	}{
		{"one", Keys{Strokes: []KeyStroke{stroke(1000)}}, true},
		{"same instant", Keys{Strokes: []KeyStroke{stroke(1000), stroke(1000)}}, true},
		{"full", Keys{Strokes: many[:MaxKeyStrokes]}, true},
		{"longest span", Keys{Strokes: []KeyStroke{stroke(1000), stroke(1000 + MaxKeysSpanMS)}}, true},
		{"with drops", Keys{Strokes: []KeyStroke{stroke(1000)}, Dropped: 7}, true},
		{"empty", Keys{}, false},
		{"too many", Keys{Strokes: many}, false},
		{"out of order", Keys{Strokes: []KeyStroke{stroke(2000), stroke(1000)}}, false},
		{"no time", Keys{Strokes: []KeyStroke{stroke(0)}}, false},
		{"too long", Keys{Strokes: []KeyStroke{stroke(1000), stroke(1001 + MaxKeysSpanMS)}}, false},
		{"negative drops", Keys{Strokes: []KeyStroke{stroke(1000)}, Dropped: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.k.Check()
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrBadMessage)
			assert.NotContains(t, err.Error(), "usage", "a refusal never quotes a key")
		})
	}
}

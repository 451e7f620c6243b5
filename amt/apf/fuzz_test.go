package apf_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

// FuzzReadMessage reads messages from arbitrary bytes: errors, never panics, and every message
// that parses marshals back to exactly the bytes it was read from.
func FuzzReadMessage(f *testing.F) {
	for _, tc := range wireCases {
		f.Add(tc.wire)
	}
	f.Add(h("5e 00000001 ffffffff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		off := 0
		for {
			m, err := apf.ReadMessage(r, 4096)
			if err != nil {
				if errors.Is(err, io.EOF) {
					require.Equal(t, len(data), off)
				}
				return
			}
			wire := m.Marshal(nil)
			require.LessOrEqual(t, off+len(wire), len(data))
			require.Equal(t, data[off:off+len(wire)], wire)
			off += len(wire)
		}
	})
}

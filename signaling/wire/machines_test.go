package wire

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMachinesCheck(t *testing.T) {
	guid := "12345678-9abc-def0-1234-56789abcdef0"
	many := make([]string, MaxMachinesPerReport+1)
	for i := range many {
		many[i] = guid
	}
	tests := []struct {
		name string
		m    Machines
		ok   bool
	}{
		{"empty reset", Machines{Reset: true}, true},
		{"up and down", Machines{Up: []string{guid}, Down: []string{"host-1.example:16994"}}, true},
		{"full report", Machines{Up: many[:MaxMachinesPerReport]}, true},
		{"too many", Machines{Up: many}, false},
		{"too many split", Machines{Up: many[:300], Down: many[:300]}, false},
		{"empty target", Machines{Up: []string{""}}, false},
		{"long target", Machines{Down: []string{strings.Repeat("a", MaxTargetLen+1)}}, false},
		{"control character", Machines{Up: []string{"abc\n"}}, false},
		{"markup", Machines{Up: []string{"<b>"}}, false},
		{"path", Machines{Up: []string{"../x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Check()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrBadMessage)
			}
		})
	}
}

package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMachinesCheck(t *testing.T) {
	guid := "12345678-9abc-def0-1234-56789abcdef0"
	up := func(targets ...string) []Machine {
		out := make([]Machine, len(targets))
		for i, t := range targets {
			out[i] = Machine{Target: t}
		}
		return out
	}
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
		{"up and down", Machines{Up: []Machine{{Target: guid, Name: "rack7-amt1 (Dell 7050)", Tags: []string{"rack7", "lab"}}}, Down: []string{"host-1.example:16994"}}, true},
		{"full report", Machines{Up: up(many[:MaxMachinesPerReport]...)}, true},
		{"too many", Machines{Up: up(many...)}, false},
		{"too many split", Machines{Up: up(many[:300]...), Down: many[:300]}, false},
		{"empty target", Machines{Up: up("")}, false},
		{"long target", Machines{Down: []string{strings.Repeat("a", MaxTargetLen+1)}}, false},
		{"control character", Machines{Up: up("abc\n")}, false},
		{"markup", Machines{Up: up("<b>")}, false},
		{"path", Machines{Down: []string{"../x"}}, false},
		{"name too long", Machines{Up: []Machine{{Target: guid, Name: strings.Repeat("n", MaxMachineName+1)}}}, false},
		{"name with escape", Machines{Up: []Machine{{Target: guid, Name: "a\x1b[31mb"}}}, false},
		{"name with bidi override", Machines{Up: []Machine{{Target: guid, Name: "a\u202eb"}}}, false},
		{"too many tags", Machines{Up: []Machine{{Target: guid, Tags: strings.Split("a,b,c,d,e,f,g,h,i", ",")}}}, false},
		{"empty tag", Machines{Up: []Machine{{Target: guid, Tags: []string{""}}}}, false},
		{"long tag", Machines{Up: []Machine{{Target: guid, Tags: []string{strings.Repeat("t", MaxMachineTag+1)}}}}, false},
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

// TestMachineClean: what a service says of a machine is bounded to what Check accepts.
func TestMachineClean(t *testing.T) {
	hostile := Machine{Target: "12345678-9abc-def0-1234-56789abcdef0", Name: "evil\x1b[2J\u202e" + strings.Repeat("x", 200),
		Tags: []string{"", "rack7", "\x00", strings.Repeat("t", 100), "a", "b", "c", "d", "e", "f", "g"}}
	c := hostile.Clean()
	require.NoError(t, Machines{Up: []Machine{c}}.Check())
	assert.True(t, strings.HasPrefix(c.Name, "evil[2J"))
	assert.Len(t, c.Name, MaxMachineName)
	assert.Equal(t, []string{"rack7", strings.Repeat("t", MaxMachineTag), "a", "b", "c", "d", "e", "f"}, c.Tags)
}

// FuzzMachines: a gateway's report, however hostile, never panics the relay's check, and what
// a gateway cleans always passes it.
func FuzzMachines(f *testing.F) {
	f.Add([]byte(`{"reset":true,"up":[{"target":"12345678-9abc-def0-1234-56789abcdef0","name":"rack7","tags":["a"]}],"down":["x"]}`))
	f.Add([]byte(`{"up":[{"target":"a","name":"\u202e\u0000","tags":["","\u001b"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Machines
		if json.Unmarshal(data, &m) != nil {
			return
		}
		_ = m.Check()
		for _, u := range m.Up {
			c := u.Clean()
			if CheckTarget(c.Target) != nil {
				continue // a bad target is refused, not cleaned
			}
			if err := (Machines{Up: []Machine{c}}).Check(); err != nil {
				t.Fatalf("cleaned machine %+v refused: %v", c, err)
			}
		}
	})
}

package cli

import (
	"flag"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApplyEnvFlagWins(t *testing.T) {
	t.Setenv("KVMRELAY_TURN_LISTEN", "0.0.0.0:3478")
	t.Setenv("KVMRELAY_LISTEN", ":9999")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	turn := fs.String("turn-listen", "", "")
	listen := fs.String("listen", "", "")
	require.NoError(t, fs.Parse([]string{"--listen", "127.0.0.1:1"}))
	require.NoError(t, ApplyEnv(fs, "KVMRELAY_"))
	assert.Equal(t, "0.0.0.0:3478", *turn, "unset flag comes from the environment")
	assert.Equal(t, "127.0.0.1:1", *listen, "a flag on the command line wins")
}

func TestApplyEnvBadValue(t *testing.T) {
	t.Setenv("KVMRELAY_FPS", "fast")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("fps", 30, "")
	require.NoError(t, fs.Parse(nil))
	err := ApplyEnv(fs, "KVMRELAY_")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "KVMRELAY_FPS")
}

func TestParsers(t *testing.T) {
	p, err := Prefixes("10.0.0.0/8, 192.0.2.1 ,2001:db8::/32")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32")}, p)
	_, err = Prefixes("10.0.0.0/33")
	assert.Error(t, err)

	for _, tc := range []struct {
		in   string
		w, h int
		ok   bool
	}{{"1920x1080", 1920, 1080, true}, {"1280X720", 1280, 720, true}, {"1921x1080", 0, 0, false}, {"big", 0, 0, false}, {"0x0", 0, 0, false}} {
		w, h, err := Size(tc.in)
		if tc.ok {
			require.NoError(t, err, tc.in)
			assert.Equal(t, [2]int{tc.w, tc.h}, [2]int{w, h})
		} else {
			assert.Error(t, err, tc.in)
		}
	}
	lo, hi, err := PortRange("49152-65535")
	require.NoError(t, err)
	assert.Equal(t, [2]uint16{49152, 65535}, [2]uint16{lo, hi})
	_, _, err = PortRange("5-1")
	assert.Error(t, err)
}

package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testconsole"
)

func openGoConsole(t *testing.T, s *stack, cfg testconsole.Config) (*testconsole.Console, context.Context) {
	t.Helper()
	code, err := testconsole.CodeFromLink(s.link(t))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cfg.Relay, cfg.Code = s.url, code
	c, err := testconsole.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, ctx
}

var fingerprintLine = regexp.MustCompile(`(?m)^a=fingerprint:sha-256 ([0-9A-F:]+)\r$`)

// TestFingerprintTampering is SECURITY.md item 3 end to end: an answer whose DTLS fingerprint
// is not the console's certificate's never gets a DTLS session, and one carrying a second
// fingerprint is refused by the relay; either way no byte reaches the device.
func TestFingerprintTampering(t *testing.T) {
	for _, tc := range []struct {
		name  string
		munge func(string) string
	}{
		{"wrong fingerprint", func(sdp string) string {
			return fingerprintLine.ReplaceAllStringFunc(sdp, func(line string) string {
				// Flip the first byte of the hash: well-formed, but not this certificate.
				i := strings.Index(line, "sha-256 ") + len("sha-256 ")
				flipped := "00"
				if line[i:i+2] == "00" {
					flipped = "FF"
				}
				return line[:i] + flipped + line[i+2:]
			})
		}},
		{"second fingerprint", func(sdp string) string {
			return fingerprintLine.ReplaceAllString(sdp, "a=fingerprint:sha-256 $1\r\na=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{width: 640, height: 360, fps: 15})
			c, _ := openGoConsole(t, s, testconsole.Config{MungeAnswer: tc.munge})
			short, cancel := context.WithTimeout(context.Background(), 6*time.Second)
			defer cancel()
			err := c.WaitChannels(short)
			require.Error(t, err, "the data channels must never open")
			assert.Zero(t, c.VideoPackets(), "no media flows without a verified DTLS session")
			assert.Zero(t, s.device.KeyDownCount())
			if tc.name == "second fingerprint" {
				var codes []string
				for _, e := range c.Errors() {
					codes = append(codes, e.Code)
				}
				assert.Contains(t, codes, "bad-message", "the relay refused the answer")
			}
		})
	}
}

// TestDataChannelMessageCap is SECURITY.md item 10 at the transport: the agent advertises a
// 64 KiB SCTP message cap, so a console cannot even send a larger message, and oversized or
// malformed HID messages that fit are dropped without reaching the device.
func TestDataChannelMessageCap(t *testing.T) {
	s := newStack(t, stackOptions{width: 640, height: 360, fps: 15})
	c, ctx := openGoConsole(t, s, testconsole.Config{})
	require.NoError(t, c.WaitChannels(ctx))
	remote := c.PeerConnection().RemoteDescription()
	require.NotNil(t, remote)
	assert.Contains(t, remote.SDP, "a=max-message-size:65536")
	assert.Error(t, c.SendHID(make([]byte, 70_000)), "pion refuses to send past the advertised cap")

	for _, bad := range [][]byte{
		{0x01, 0x01},             // truncated KEY
		{0x01, 0x05, 0x00, 0x04}, // bad state byte
		{0x01, 0x01, 0x00, 0x00}, // usage 0
		{0x7f},                   // unknown type
		append([]byte{0x06}, make([]byte, 20_000)...), // TEXT over 16 KiB
		{0x06, 0xff, 0xfe},                            // TEXT not UTF-8
	} {
		require.NoError(t, c.SendHID(bad))
	}
	// A valid key after the garbage still works: the channel stayed usable and ordered.
	down, err := hid.Encode(hid.KeyMsg{Usage: 0x04, Down: true})
	require.NoError(t, err)
	require.NoError(t, c.SendHID(down))
	require.Eventually(t, func() bool { return s.device.KeyDownCount() == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, uint64(1), s.device.KeyDownCount(), "none of the malformed messages reached the device")
}

// TestHeldKeysReleased is SECURITY.md item 11: Ctrl+Alt held by a console that goes quiet, or
// that disconnects, are released on the device.
func TestHeldKeysReleased(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(c *testconsole.Console)
	}{
		// The Go console sends no keep-alives: after the press it is simply silent, as a
		// console behind a dead network would be.
		{"console goes silent", func(*testconsole.Console) {}},
		{"console disconnects", func(c *testconsole.Console) { c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{width: 640, height: 360, fps: 15})
			c, ctx := openGoConsole(t, s, testconsole.Config{})
			require.NoError(t, c.WaitChannels(ctx))
			for _, u := range []hid.Usage{hid.UsageLeftCtrl, hid.UsageLeftAlt} {
				msg, err := hid.Encode(hid.KeyMsg{Usage: u, Down: true})
				require.NoError(t, err)
				require.NoError(t, c.SendHID(msg))
			}
			require.Eventually(t, func() bool { return s.device.KeyDownCount() == 2 }, 5*time.Second, 5*time.Millisecond)
			tc.end(c)
			// The agent's watchdog releases after 500 ms of silence (unit-tested to the
			// millisecond with a fake clock in hid); here, on a loaded 2-core machine, allow
			// slack but prove it happens.
			require.Eventually(t, func() bool { return len(s.device.HeldKeys()) == 0 }, 3*time.Second, 10*time.Millisecond,
				"Ctrl and Alt are still held on the device")
		})
	}
}

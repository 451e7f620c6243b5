package recording

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// rtpPacketRef holds a packet in a test's reordered list.
type rtpPacketRef struct{ p *rtp.Packet }

// readTimeline parses a timeline file, one JSON object a line.
func readTimeline(t *testing.T, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "line %q", sc.Text())
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	return lines
}

package recording

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// probeResult is what ffprobe says of a file.
type probeResult struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		NbReadFrames string `json:"nb_read_frames"`
		NbFrames     string `json:"nb_frames"`
		Duration     string `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
		Size     string `json:"size"`
	} `json:"format"`
	Packets []struct {
		PTSTime string `json:"pts_time"`
		Flags   string `json:"flags"`
	} `json:"packets"`
}

// ffprobe runs the real ffprobe on path, decoding every frame, with errors reported
// (-v error): a stream it cannot decode cleanly fails the test.
func ffprobe(t *testing.T, path string) probeResult {
	t.Helper()
	bin := testenv.LookPath(t, "ffprobe", "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-v", "error", "-count_frames", "-show_streams", "-show_format",
		"-show_entries", "packet=pts_time,flags", "-of", "json", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ffprobe: %s", stderr.String())
	require.Empty(t, strings.TrimSpace(stderr.String()), "ffprobe found errors in %s", path)
	var res probeResult
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res.Streams, 1)
	return res
}

func (p probeResult) frames(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(p.Streams[0].NbReadFrames)
	require.NoError(t, err, "nb_read_frames %q", p.Streams[0].NbReadFrames)
	return n
}

func (p probeResult) duration(t *testing.T) time.Duration {
	t.Helper()
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	require.NoError(t, err, "format duration %q", p.Format.Duration)
	return time.Duration(d * float64(time.Second))
}

// keyPackets counts the packets ffprobe flags as keyframes (sync samples).
func (p probeResult) keyPackets() int {
	n := 0
	for _, pk := range p.Packets {
		if strings.Contains(pk.Flags, "K") {
			n++
		}
	}
	return n
}

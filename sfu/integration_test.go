package sfu

import (
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestForwardOverVnet: a publisher sends real H.264 at ~1.5 Mbit/s to the relay's upstream
// connection; its Forwarder feeds four viewers over pion's virtual network: two on a clean
// link, one losing 1% of its packets, one behind a 300 kbit/s link. The three others decode
// nearly every frame sent (the lossy one thanks to the NACK responder resending under the
// numbers the viewer was sent); the slow one goes keyframes-only and still decodes pictures.
// (From 2% loss on, pion's GCC never raises its estimate again, so more loss would test GCC,
// not forwarding.)
func TestForwardOverVnet(t *testing.T) {
	const (
		bitrate = 1_500_000
		slowBps = 300_000
		// frames to send once every viewer shows a picture: 8 s at 30 fps.
		measureFrames = 240
	)
	w := newVnetWorld(t)
	pubNet, relayNet := w.host(0, 0), w.host(0, 0)
	nets := []*vnet.Net{w.host(0, 0), w.host(0, 0), w.host(0, 0), w.host(slowBps, 1)}
	w.lose(nets[2], 0.01)
	w.start()

	pub := startPublisher(t, pubNet, 640, 360, 30, bitrate)
	relay := startRelaySide(t, relayNet, pub)
	names := []string{"fast-1", "fast-2", "lossy", "slow"}
	viewers := make([]*Viewer, len(nets))
	receivers := make([]*receiver, len(nets))
	for i, n := range nets {
		viewers[i], receivers[i] = relay.addViewer(names[i], n, pub)
	}

	require.Eventually(t, func() bool {
		for _, r := range receivers {
			if d, _, _ := r.counts(); d == 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 20*time.Millisecond, "every viewer shows a picture")
	start := pub.frames.Load()
	require.Eventually(t, func() bool { return pub.frames.Load() >= start+measureFrames }, 120*time.Second, 20*time.Millisecond)
	end := pub.frames.Load()
	time.Sleep(300 * time.Millisecond) // the last frames in flight

	fs := relay.fwd.Stats()
	t.Logf("publisher: %d frames (%d keyframes), %.0f kbit/s encoded; forwarder: %+v",
		end, pub.keyframes.Load(), float64(pub.bytes.Load())*8/float64(end)*30/1000, fs)
	assert.InDelta(t, bitrate, fs.BitrateBps, 0.4*bitrate, "the stream runs at about the target")
	for i, r := range receivers {
		d, k, firstAt := r.counts()
		vs := viewers[i].Stats()
		t.Logf("%s: %d decodable frames (%d keyframes) of %d sent since its first; %+v", names[i], d, k, end-firstAt, vs)
	}
	for i, r := range receivers[:3] {
		d, _, firstAt := r.counts()
		vs := viewers[i].Stats()
		sent := end - firstAt
		assert.GreaterOrEqual(t, float64(d), 0.9*float64(sent), "%s decodes nearly every frame", names[i])
		assert.Zero(t, vs.KeyframesOnlyEntered, "%s never goes keyframes-only", names[i])
	}
	assert.Positive(t, viewers[2].Stats().NACKedPackets, "the lossy viewer's losses were NACKed")
	d, k, firstAt := receivers[3].counts()
	vs := viewers[3].Stats()
	assert.GreaterOrEqual(t, vs.KeyframesOnlyEntered, 1, "the slow viewer goes keyframes-only")
	assert.Greater(t, vs.KeyframesOnlyTime, 2*time.Second)
	assert.Greater(t, vs.FramesDropped, uint64(measureFrames/2), "most frames are dropped for it")
	assert.GreaterOrEqual(t, k, 2, "and it still decodes pictures")
	assert.Less(t, float64(d), 0.5*float64(end-firstAt), "not the full stream")
}

package sfu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestViewerEndsAfterForwarderClosed: a forwarder closed before its viewers' connections (the
// relay stopping a stream its viewers still show) leaves nothing running once they close:
// pion stops the sender only when Unbind succeeds, and only a stopped sender ends the
// viewer's RTCP reader (addViewer's cleanup waits for it).
func TestViewerEndsAfterForwarderClosed(t *testing.T) {
	w := newVnetWorld(t)
	pubNet, relayNet, viewerNet := w.host(0, 0), w.host(0, 0), w.host(0, 0)
	w.start()
	pub := startPublisher(t, pubNet, 640, 360, 30, 1_000_000)
	relay := startRelaySide(t, relayNet, pub)
	_, rcv := relay.addViewer("v", viewerNet, pub)
	require.Eventually(t, func() bool { d, _, _ := rcv.counts(); return d > 0 }, 30*time.Second, 20*time.Millisecond, "the viewer shows a picture")
	relay.fwd.Close()
}

package amt

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A link that keeps talking stays up; one that falls silent fails reads with ErrLinkDropped.
func TestSilenceWatchdog(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := watchSilence(client, 200*time.Millisecond)
	defer c.Close()

	talk := make(chan struct{})
	go func() {
		defer close(talk)
		for range 8 {
			if _, err := server.Write([]byte{1}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	buf := make([]byte, 1)
	for range 8 {
		_, err := io.ReadFull(c, buf)
		require.NoError(t, err, "a link that talks every 50 ms is alive")
	}
	<-talk
	_, err := c.Read(buf)
	require.ErrorIs(t, err, ErrLinkDropped)
	assert.Contains(t, err.Error(), "management link dropped")
}

// A quiet link that answers the probe stays up.
func TestSilenceWatchdogProbes(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := watchSilence(client, 200*time.Millisecond)
	defer c.Close()
	probes := make(chan struct{}, 16)
	c.setProbe(func() { probes <- struct{}{} })
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for range 3 {
			select {
			case <-probes:
			case <-time.After(5 * time.Second):
				return
			}
			if _, err := server.Write([]byte{1}); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1)
	for range 3 {
		_, err := io.ReadFull(c, buf)
		require.NoError(t, err, "a quiet link answering its probes is alive")
	}
	<-answered
	_, err := c.Read(buf)
	require.ErrorIs(t, err, ErrLinkDropped, "one that stops answering is not")
}

package vnc_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/vnc"
)

func TestSpec(t *testing.T) {
	tests := []struct {
		spec, name, err string
	}{
		{"vnc://10.0.0.5", "vnc://10.0.0.5:5900", ""},
		{"vnc://10.0.0.5:5901", "vnc://10.0.0.5:5901", ""},
		{"vnc://:hunter2@host.example:5902", "vnc://host.example:5902", ""},
		{"vnc://[::1]", "vnc://[::1]:5900", ""},
		{"vnc://host/", "vnc://host:5900", ""},
		{"vnc://", "", "no host"},
		{"vnc:host", "", "no host"},
		{"vnc://host:99999", "", "bad port"},
		{"vnc://host/path", "", "unexpected path"},
		{"vnc://host?x=1", "", "unexpected path"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			u, err := url.Parse(tt.spec)
			require.NoError(t, err)
			src, err := vnc.NewSource(u, device.Options{})
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				assert.Contains(t, err.Error(), "vnc://[:PASSWORD@]HOST[:PORT]")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.name, src.String())
		})
	}
}

// TestUnreachable: nothing listens, or something that never speaks RFB: one line each.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := silent.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	defer func() {
		if c, ok := <-accepted; ok {
			_ = c.Close()
		}
	}()

	tests := []struct {
		name, addr, want string
	}{
		{"refused", closed, "vnc://" + closed + ": cannot reach the VNC server"},
		{"silent", silent.Addr().String(), "vnc://" + silent.Addr().String() + ": the server did not complete the VNC handshake in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := url.Parse("vnc://" + tt.addr)
			src, err := vnc.NewSource(u, device.Options{DialTimeout: 500 * time.Millisecond})
			require.NoError(t, err)
			_, err = src.Open(context.Background())
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want), "error %q", err)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

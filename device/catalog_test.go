package device_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
)

type namedSource string

func (n namedSource) Open(context.Context) (device.Conn, error) {
	return device.Conn{}, errors.New("no")
}
func (n namedSource) String() string { return string(n) }

func TestCatalog(t *testing.T) {
	c := device.Catalog{
		Sources: map[string]device.SourceFactory{
			"vnc": func(u *url.URL, _ device.Options) (device.Source, error) {
				if u.Host == "" {
					return nil, errors.New("needs a host, like vnc://10.0.0.5:5900")
				}
				return namedSource("vnc://" + u.Host), nil
			},
			"testpattern": func(*url.URL, device.Options) (device.Source, error) { return namedSource("pattern"), nil },
		},
	}
	for _, tc := range []struct {
		spec, want, err string
	}{
		{spec: "vnc://10.0.0.5:5900", want: "vnc://10.0.0.5:5900"},
		{spec: "testpattern", want: "pattern"},
		{spec: " TestPattern ", want: "pattern"},
		{spec: "vnc://", err: "needs a host"},
		{spec: "rdp://host", err: `unknown scheme "rdp" in --source "rdp://host"; known: testpattern, vnc`},
		{spec: "vnc://:s3cret@host:5900x", err: "xxxxx"},
		{spec: "", err: "empty spec"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := c.Source(tc.spec, device.Options{})
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.NotContains(t, err.Error(), "s3cret", "passwords never reach messages")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.String())
		})
	}
}

func TestCatalogInput(t *testing.T) {
	c := device.Catalog{}
	sink, viewOnly, err := c.Input("none")
	require.NoError(t, err)
	assert.True(t, viewOnly)
	assert.Nil(t, sink)
	sink, viewOnly, err = c.Input("source")
	require.NoError(t, err)
	assert.False(t, viewOnly)
	assert.Nil(t, sink)
	_, _, err = c.Input("usb-gadget:///dev/hidg0")
	require.ErrorIs(t, err, device.ErrUnknownScheme)
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "vnc://:xxxxx@10.0.0.5:5900", device.Redact("vnc://:hunter2@10.0.0.5:5900"))
	assert.Equal(t, "vnc://10.0.0.5", device.Redact("vnc://10.0.0.5"))
	assert.Equal(t, "mjpeg+http://admin:xxxxx@pikvm/streamer/stream", device.Redact("mjpeg+http://admin:admin@pikvm/streamer/stream"))
}

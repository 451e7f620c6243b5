package builtin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
)

func TestCatalogSources(t *testing.T) {
	tests := []struct {
		spec, name, kind string
	}{
		{"testpattern", "testpattern (1280x720 at 30 fps)", "testpattern"},
		{"mjpeg+http://tinypilot:8001/stream", "mjpeg+http://tinypilot:8001/stream", "mjpeg+http"},
		{"mjpeg+https://admin:secret@pikvm/streamer/stream", "mjpeg+https://admin:xxxxx@pikvm/streamer/stream", "mjpeg+https"},
		{"vnc://:hunter2@10.0.0.5", "vnc://10.0.0.5:5900", "vnc"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			src, err := Catalog().Source(tt.spec, device.Options{Width: 1280, Height: 720, FPS: 30})
			require.NoError(t, err)
			assert.Equal(t, tt.name, src.String())
			assert.Equal(t, tt.kind, device.Kind(tt.spec))
		})
	}
}

// TestOpenGateway: an amt+mps spec without a GUID opens a gateway, with one a source.
func TestOpenGateway(t *testing.T) {
	opts := device.Options{Lookup: func(string) (string, bool) { return "pw", true }}
	sel, err := Open("amt+mps://ops@mps.example.com", "", opts)
	require.NoError(t, err)
	require.NotNil(t, sel.Gateway)
	assert.Nil(t, sel.Source)
	assert.Equal(t, "amt+mps", sel.Kind)

	sel, err = Open("amt+mps://ops@mps.example.com/12345678-9abc-def0-1234-56789abcdef0", "none", opts)
	require.NoError(t, err)
	assert.Nil(t, sel.Gateway)
	require.NotNil(t, sel.Source)
	assert.True(t, sel.ViewOnly)

	sel, err = Open("testpattern", "", opts)
	require.NoError(t, err)
	assert.NotNil(t, sel.Source)

	_, err = Open("amt+mps://ops@mps.example.com", "", device.Options{})
	assert.ErrorContains(t, err, "KVMAGENT_MPS_PASSWORD", "a gateway without its password says which")
}

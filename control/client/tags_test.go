package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeviceTagsRequests: a gateway's AMT tags go out on create (left out when none) and on
// update (nil leaves them, an empty list clears them), and come back in Device.
func TestDeviceTagsRequests(t *testing.T) {
	var mu sync.Mutex
	var got []seenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seenRequest{r.Method + " " + r.URL.Path, string(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"d1","name":"gw","labels":{},"kind":"gateway","amt_tags":["rack7","lab"]}`)
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL, HTTPClient: srv.Client(), ConfigDir: t.TempDir(), APIKey: "kvm_ak_x"})
	require.NoError(t, err)
	ctx := context.Background()

	d, err := c.CreateDeviceWith(ctx, NewDevice{Name: "gw", Kind: DeviceGateway, AMTTags: []string{"rack7", "lab"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"rack7", "lab"}, d.AMTTags)
	_, err = c.CreateDeviceWith(ctx, NewDevice{Name: "rack1"})
	require.NoError(t, err)
	name := "gw2"
	tests := []struct {
		ch   DeviceChange
		want string
	}{
		{DeviceChange{AMTTags: []string{"lab"}}, `{"amt_tags":["lab"]}`},
		{DeviceChange{AMTTags: []string{}}, `{"amt_tags":[]}`},
		{DeviceChange{Name: &name}, `{"name":"gw2"}`},
		{DeviceChange{Labels: map[string]string{}, AMTTags: []string{"a,b"}}, `{"amt_tags":["a,b"],"labels":{}}`},
	}
	for _, tc := range tests {
		_, err := c.UpdateDeviceWith(ctx, "d1", tc.ch)
		require.NoError(t, err)
	}
	_, err = c.UpdateDevice(ctx, "d1", nil, map[string]string{"site": "fra1"})
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	want := []seenRequest{
		{"POST /api/v1/devices", `{"name":"gw","labels":{},"kind":"gateway","amt_tags":["rack7","lab"]}`},
		{"POST /api/v1/devices", `{"name":"rack1","labels":{}}`},
	}
	for _, tc := range tests {
		want = append(want, seenRequest{"PATCH /api/v1/devices/d1", tc.want})
	}
	want = append(want, seenRequest{"PATCH /api/v1/devices/d1", `{"labels":{"site":"fra1"}}`})
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].route, got[i].route)
		assert.JSONEq(t, want[i].body, got[i].body, want[i].route)
	}
}

// seenRequest is one request as a test server saw it.
type seenRequest struct{ route, body string }

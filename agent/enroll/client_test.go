package enroll

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPClientErrors: the relay's stable codes map to the package's sentinels, and its
// messages (relay-supplied text) reach the operator on one capped line.
func TestHTTPClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		is       error
		contains string
	}{
		{"token refused", 401, `{"code":"enrollment-token-invalid","message":"ask an admin"}`, ErrTokenRejected, "ask an admin"},
		{"proof refused", 401, `{"code":"proof-invalid","message":"enroll again"}`, ErrProofRefused, "enroll again"},
		{"rate limited", 429, `{"code":"rate-limited","message":"wait\u001b[2J a minute"}`, nil, "wait[2J a minute"},
		{"not JSON", 502, `<html>bad gateway</html>`, nil, "HTTP 502"},
		{"long message", 400, `{"code":"x","message":"` + strings.Repeat("m", 1000) + `"}`, nil, strings.Repeat("m", 300) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := NewHTTPClient(srv.URL, nil)
			require.NoError(t, err)
			defer c.CloseIdleConnections()
			_, _, err = c.Enroll(context.Background(), "kvme_x", []byte("csr"))
			require.Error(t, err)
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.status, se.Status)
			assert.Contains(t, err.Error(), tc.contains)
			assert.NotContains(t, err.Error(), "\x1b")
			for _, sentinel := range []error{ErrTokenRejected, ErrProofRefused} {
				assert.Equal(t, sentinel == tc.is, errors.Is(err, sentinel), "%v", sentinel)
			}
		})
	}
	for _, bad := range []string{"", "relay.example.com", "ftp://relay", "http://"} {
		_, err := NewHTTPClient(bad, nil)
		assert.Error(t, err, bad)
	}
}

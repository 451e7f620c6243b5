package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bad invocations say what to do, and passwords come only from the environment.
func TestRunRefusals(t *testing.T) {
	none := func(string) string { return "" }
	withMPS := func(k string) string {
		if k == "AMTSIM_MPS_PASSWORD" {
			return "x"
		}
		return ""
	}
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{nil, none, "Usage: amtsim mps|device"},
		{[]string{"firmware"}, none, `unknown command "firmware"`},
		{[]string{"mps"}, none, "set AMTSIM_MPS_PASSWORD"},
		{[]string{"mps"}, withMPS, "set AMTSIM_AMT_PASSWORD"},
		{[]string{"device", "--vnc", "127.0.0.1:5900"}, none, "--guid, --vnc and (with --cira) --mps-user are required"},
		{[]string{"device", "--guid", "x", "--mps-user", "u", "--vnc", "v"}, none, "set AMTSIM_MPS_PASSWORD"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, &out, tc.env)
		require.Error(t, err, "%q", tc.args)
		assert.Contains(t, err.Error(), tc.want, "%q", tc.args)
	}
}

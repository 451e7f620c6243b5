package turn

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pion/turn's client (the tests' client, not this package's server) starts a channel
		// bind in its own goroutine and Client.Close does not cancel its transaction, which
		// ends only at its retransmission timeout. Everything of the server is still checked.
		goleak.IgnoreTopFunction("github.com/pion/turn/v5/internal/client.(*Transaction).WaitForResult"),
	)
}

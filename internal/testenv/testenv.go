// Package testenv holds what kvmrelay's tests need from their environment: real external
// programs (Chromium, coturn, PostgreSQL…) found or the test stopped, and a headless Chromium
// driven through chromedp. In CI (CI=true) a missing dependency fails the test; elsewhere it
// skips with the command that installs it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI, where missing dependencies are failures.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing stops the test because a dependency is absent: a failure in CI, a skip elsewhere.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing; CI must have it (install: %s)", what, install)
	}
	t.Skipf("%s is missing (install: %s)", what, install)
}

// LookPath returns the path of an executable or stops the test with how to install it.
func LookPath(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "apt-get install -y "+debianPackage)
	}
	return p
}

// TestHostIP is the address of the test host interface that scripts/netns-exec creates, or ""
// when the tests run on the host's own network.
func TestHostIP() string { return os.Getenv("KVMRELAY_TEST_HOST_IP") }

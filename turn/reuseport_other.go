//go:build !linux

package turn

import (
	"errors"
	"net"
	"syscall"
)

// reusePortSupported: elsewhere than Linux the server listens with one UDP socket (BSDs'
// SO_REUSEPORT does not spread datagrams, and nothing steers them by client; see
// reuseport_linux.go).
const reusePortSupported = false

func reusePortControl(string, string, syscall.RawConn) error { return nil }

func steerByClientIP(net.PacketConn, int) error {
	return errors.New("turn: SO_REUSEPORT steering needs Linux")
}

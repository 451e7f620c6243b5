//go:build unix

package turn

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported: the kernel can spread one UDP port over several sockets.
const reusePortSupported = true

// reusePortControl sets SO_REUSEPORT (and only that: SO_REUSEADDR would let a UDP socket of
// any other program bind the same port). On Linux the kernel then hashes each datagram's
// 4-tuple to one socket of the group, so a client always reaches the same socket, hence the
// same pion read loop and allocation table, while different clients spread over all of them.
func reusePortControl(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) //nolint:gosec // fd fits
	}); err != nil {
		return fmt.Errorf("turn: SO_REUSEPORT: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("turn: SO_REUSEPORT: %w", serr)
	}
	return nil
}

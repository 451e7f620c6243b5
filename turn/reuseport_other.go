//go:build !unix

package turn

import "syscall"

// reusePortSupported: without SO_REUSEPORT the server listens with one UDP socket.
const reusePortSupported = false

func reusePortControl(string, string, syscall.RawConn) error { return nil }

package cira

import (
	"net"
	"strconv"
)

// Addr is one end of a channel: a host (a device GUID, or the origin MPS names) and a port.
type Addr struct {
	Host string
	Port uint32
}

var _ net.Addr = Addr{}

// Network implements net.Addr.
func (Addr) Network() string { return "cira" }

// String implements net.Addr.
func (a Addr) String() string {
	return net.JoinHostPort(a.Host, strconv.FormatUint(uint64(a.Port), 10))
}

package turn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// listenPair opens UDP and TCP on the same address. With port 0 the kernel picks the UDP
// port and TCP takes the same one, retrying if it is taken for TCP.
func listenPair(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	tries := 1
	if port == "0" {
		tries = 20
	}
	for range tries {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("udp: %w", err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port //nolint:forcetypeassert // udp
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || tries == 1 {
			return nil, nil, fmt.Errorf("tcp: %w", err)
		}
	}
	return nil, nil, fmt.Errorf("tcp: no port free for both UDP and TCP on %s", addr)
}

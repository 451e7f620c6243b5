package turn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// listeners are the sockets clients reach the server on: one or more UDP sockets sharing a
// port (SO_REUSEPORT, one pion read loop each), and TCP on the same port unless the network
// has no TCP.
type listeners struct {
	udp []net.PacketConn
	tcp net.Listener // nil: an injected Net without TCP

	// steerErr: the UDP group could not be steered by client address, so it was cut down to
	// one socket (see reuseport_linux.go). For the log.
	steerErr error
}

func (l *listeners) close() {
	for _, pc := range l.udp {
		_ = pc.Close()
	}
	if l.tcp != nil {
		_ = l.tcp.Close()
	}
}

// port is the port every listener of the pair is on.
func (l *listeners) port() uint16 {
	return uint16(l.udp[0].LocalAddr().(*net.UDPAddr).Port) //nolint:gosec,forcetypeassert // udp, port fits
}

// maxPortTries bounds the search for a port free for both UDP and TCP when the port is 0.
const maxPortTries = 20

// listenPair opens nUDP UDP sockets and a TCP listener on the same address. With port 0 the
// kernel (or the injected Net) picks the UDP port and TCP takes the same one, retrying if it
// is taken for TCP. Without TCP on an injected Net, tcp stays nil.
func listenPair(ctx context.Context, so sockets, addr string, nUDP int) (*listeners, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	tries := 1
	if port == "0" {
		tries = maxPortTries
	}
	for range tries {
		ls, err := tryListenPair(ctx, so, host, port, nUDP)
		if err == nil {
			return ls, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || tries == 1 {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no port free for both UDP and TCP on %s", addr)
}

func tryListenPair(ctx context.Context, so sockets, host, port string, nUDP int) (*listeners, error) {
	// The first socket is exclusive (no SO_REUSEPORT) even when nUDP > 1: it picks the port
	// when port is 0, and it fails if anything holds the port already, including another
	// process's SO_REUSEPORT group, which shared sockets would silently join and split the
	// traffic with.
	first, err := so.listenPacket(ctx, "udp", net.JoinHostPort(host, port), false)
	if err != nil {
		return nil, fmt.Errorf("udp: %w", err)
	}
	ls := &listeners{udp: []net.PacketConn{first}}
	at := net.JoinHostPort(host, strconv.Itoa(int(ls.port())))
	tcp, err := so.listen(ctx, "tcp", at, false)
	switch {
	case errors.Is(err, errNoTCP):
	case err != nil:
		ls.close()
		return nil, fmt.Errorf("tcp: %w", err)
	default:
		ls.tcp = tcp
	}
	if nUDP <= 1 {
		return ls, nil
	}
	// Reopen UDP as a group. Between the close and the binds another program could take the
	// port; the bind then fails (EADDRINUSE) rather than share it, unless that program is of
	// the same user and asks for SO_REUSEPORT too.
	_ = first.Close()
	ls.udp = ls.udp[:0]
	for range nUDP {
		pc, err := so.listenPacket(ctx, "udp", at, true)
		if err != nil {
			ls.close()
			return nil, fmt.Errorf("udp (SO_REUSEPORT): %w", err)
		}
		ls.udp = append(ls.udp, pc)
	}
	if err := so.steer(ls.udp); err != nil {
		for _, pc := range ls.udp[1:] {
			_ = pc.Close()
		}
		ls.udp, ls.steerErr = ls.udp[:1], err
	}
	return ls, nil
}

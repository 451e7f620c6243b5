package turn

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Several UDP sockets on one port (Config.UDPSockets) take the load of pion's single read
// loop per socket. Linux spreads datagrams over a SO_REUSEPORT group by a hash of the
// 4-tuple, which keeps each client socket on one of ours; but pion keeps state per listener
// socket that a client may use from several of its own sockets: an EVEN-PORT allocation's
// RESERVATION-TOKEN is looked up in the allocation table of the socket that serves the next
// Allocate. A client sending its RTP and RTCP allocations from two ports would, three times
// in four with four sockets, be served by two tables and get 508 for the second. So the group
// is steered by the client's IP address alone (steerByClientIP): one host's sockets always
// meet the same table, and different hosts spread over all of them.

// reusePortSupported: the kernel spreads one UDP port over several sockets, and can be
// told how.
const reusePortSupported = true

// skfNetOff is SKF_NET_OFF (linux/filter.h): classic BPF loads at this offset read the
// network (IP) header rather than the data the program is run on.
const skfNetOff = -0x100000

// reusePortControl sets SO_REUSEPORT (and only that: SO_REUSEADDR would let a UDP socket of
// any other program bind the same port).
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

// steerByClientIP attaches to pc's SO_REUSEPORT group (of n sockets, bound in order) a
// classic BPF program that picks the socket from a hash of the source IP address: its IPv4
// address, or the last 32 bits of an IPv6 one (the interface identifier, which differs
// between hosts of one prefix).
func steerByClientIP(pc net.PacketConn, n int) error {
	prog, err := steeringProgram(n)
	if err != nil {
		return err
	}
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return errors.New("turn: steer SO_REUSEPORT group: not an OS socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("turn: steer SO_REUSEPORT group: %w", err)
	}
	filters := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filters[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]} //nolint:gosec // a few instructions
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog) //nolint:gosec // fd fits
	}); err != nil {
		return fmt.Errorf("turn: steer SO_REUSEPORT group: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("turn: SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return nil
}

// steeringProgram returns the program: A = source address word; A = (A·2654435761) >> 16
// (Fibonacci hashing, so neighbouring addresses spread); return A mod n, the index of the
// socket in the group.
func steeringProgram(n int) ([]bpf.RawInstruction, error) {
	net := func(off int) uint32 { return uint32(skfNetOff + off) } //nolint:gosec // two's complement, as the kernel reads it
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: net(0), Size: 1},                             // IP version and header length
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},                 // version
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 0, SkipFalse: 2}, //
		bpf.LoadAbsolute{Off: net(20), Size: 4},                            // IPv6 source, last word
		bpf.Jump{Skip: 1},                                                  //
		bpf.LoadAbsolute{Off: net(12), Size: 4},                            // IPv4 source
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 2654435761},               //
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},                //
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(n)},                //nolint:gosec // n ≤ maxUDPSockets
		bpf.RetA{},
	})
}

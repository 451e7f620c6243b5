//go:build linux

package turn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawUDP does the per-datagram system calls of a kernel UDP socket (a listener, or a relay
// socket of a relay loop) itself, rather than through net.UDPConn:
//
//   - Sends are a raw, non-blocking sendto(2) outside the socket's write lock. net.UDPConn
//     holds that lock for the whole call, so goroutines writing to one socket queue behind
//     each other, parked on a semaphore and woken one by one; on loopback a sendto also
//     delivers the datagram to the receiver, several microseconds. Datagrams need no such lock.
//   - A listener's reads are a raw recvmmsg(2) of up to readBatch datagrams under net's read
//     lock and poller (RawConn.Read, so deadlines and Close work as before), returning each
//     source as a netip.AddrPort: no net.UDPAddr is allocated for a datagram the fast path
//     relays itself.
//
// The calls are made without telling the scheduler (RawSyscall): a non-blocking call returns
// in microseconds, and a P handed off to another thread meanwhile (what sysmon does to a P in
// a system call for more than 20 µs) costs more than the call, in thread wake-ups.
//
// Sends handle the plain case — to an address of the socket's family without a zone; anything
// else reports an error (send) or ok false (sendTo, writeTo) and the caller takes
// net.UDPConn's WriteTo, which waits for room and returns the standard errors.
type rawUDP struct {
	rc  syscall.RawConn // nil for a socket outside Go's poller (dupUDP)
	fd  uintptr
	fam int // unix.AF_INET or unix.AF_INET6
	// calls are the raw calls on fd in flight outside net's locks (sends, a relay loop's
	// reads): close waits them out before the socket is closed, so fd never names another
	// socket meanwhile.
	calls ops

	// The reader's (listeners'): one goroutine reads, pion's read loop of the socket.
	readFn  func(fd uintptr) bool // made once: a closure per read would be an allocation
	readErr syscall.Errno
	rsize   int    // bytes per datagram: the reader's buffer size
	rbuf    []byte // readBatch × rsize
	rmsgs   [readBatch]unix.Mmsghdr
	riov    [readBatch]unix.Iovec
	rnames  [readBatch]unix.RawSockaddrAny
	rgot    int // datagrams in rbuf
	rnext   int // the next one next returns
}

// readBatch is how many datagrams a listener's reader takes per recvmmsg at most.
const readBatch = 16

// newRawUDP returns nil where pc is not a kernel UDP socket (an injected Net's).
func newRawUDP(pc net.PacketConn) *rawUDP {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawUDP{rc: rc}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		r.fd = fd
		r.fam, ferr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN) //nolint:gosec // fd fits
	}); err != nil || ferr != nil || (r.fam != unix.AF_INET && r.fam != unix.AF_INET6) {
		return nil
	}
	r.readFn = r.recvmmsg
	return r
}

// newRawFD is a rawUDP for a socket outside Go's poller (dupUDP): no readFrom.
func newRawFD(fd, fam int) *rawUDP { return &rawUDP{fd: uintptr(fd), fam: fam} } //nolint:gosec // fd ≥ 0

// dupUDP duplicates pc's socket descriptor, for a relay loop to poll outside Go's poller
// (relay_loop_linux.go); it returns the duplicate, non-blocking (O_NONBLOCK is the open
// file's), and the socket's family. Closing pc afterwards removes pc's own descriptor from
// Go's poller; the socket lives on in fd, which the caller closes.
func dupUDP(pc net.PacketConn) (fd, fam int, err error) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return -1, 0, errNotKernelSocket
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return -1, 0, fmt.Errorf("turn: duplicate UDP socket: %w", err)
	}
	fd = -1
	var cerr error
	if err := rc.Control(func(sfd uintptr) {
		if fam, cerr = unix.GetsockoptInt(int(sfd), unix.SOL_SOCKET, unix.SO_DOMAIN); cerr != nil { //nolint:gosec // fd fits
			return
		}
		fd, cerr = unix.FcntlInt(sfd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || cerr != nil {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return -1, 0, fmt.Errorf("turn: duplicate UDP socket: %w", errors.Join(err, cerr))
	}
	if fam != unix.AF_INET && fam != unix.AF_INET6 {
		_ = unix.Close(fd)
		return -1, 0, errNotKernelSocket
	}
	return fd, fam, nil
}

// close stops raw calls and waits for those in flight; the caller then closes the socket.
func (r *rawUDP) close() {
	if r == nil {
		return
	}
	r.calls.close()
	r.calls.wait(time.Second) // each is one non-blocking system call
}

// writeTo sends p to addr (a *net.UDPAddr) if it can without waiting; ok false: it did not
// send, and the caller takes net.UDPConn's WriteTo.
func (r *rawUDP) writeTo(p []byte, addr net.Addr) (n int, ok bool) {
	n, err := r.send(p, addr)
	return n, err == nil
}

// sendTo sends p to dst (without a zone) if it can without waiting; ok false: it did not.
func (r *rawUDP) sendTo(p []byte, dst netip.AddrPort) (n int, ok bool) {
	if r == nil {
		return 0, false
	}
	var sa unix.RawSockaddrInet6
	sl, okAddr := r.sockaddr(&sa, dst)
	if !okAddr {
		return 0, false
	}
	n, err := r.sendRaw(p, &sa, sl)
	return n, err == nil
}

// send sends p to addr (a *net.UDPAddr without a zone, of the socket's family) without
// waiting: an error otherwise, EAGAIN included.
func (r *rawUDP) send(p []byte, addr net.Addr) (int, error) {
	if r == nil {
		return 0, errRawAddr
	}
	ua, isUDP := addr.(*net.UDPAddr)
	if !isUDP || ua.Zone != "" || ua.Port < 0 || ua.Port > 0xffff {
		return 0, errRawAddr
	}
	ip, valid := netip.AddrFromSlice(ua.IP)
	if !valid {
		return 0, errRawAddr
	}
	var sa unix.RawSockaddrInet6
	sl, ok := r.sockaddr(&sa, netip.AddrPortFrom(ip.Unmap(), uint16(ua.Port)))
	if !ok {
		return 0, errRawAddr
	}
	return r.sendRaw(p, &sa, sl)
}

// errRawAddr: an address the raw path does not send to (the caller falls back to net's).
var errRawAddr = errors.New("turn: address not for a raw send")

func (r *rawUDP) sendRaw(p []byte, sa *unix.RawSockaddrInet6, sl uintptr) (int, error) {
	var buf unsafe.Pointer
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	if !r.calls.enter() {
		return 0, net.ErrClosed
	}
	sent, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, r.fd, uintptr(buf), uintptr(len(p)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(sa)), sl)
	r.calls.exit()
	if errno != 0 {
		return 0, os.NewSyscallError("sendto", errno)
	}
	return int(sent), nil //nolint:gosec // at most len(p)
}

// sockaddr writes dst into sa (large enough for either family) as the socket wants it and
// returns its length; false: dst has a zone, or is IPv6 on an IPv4 socket.
func (r *rawUDP) sockaddr(sa *unix.RawSockaddrInet6, dst netip.AddrPort) (uintptr, bool) {
	a := dst.Addr()
	switch {
	case a.Zone() != "":
		return 0, false
	case r.fam == unix.AF_INET && a.Is4():
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		putPort(&sa4.Port, dst.Port())
		return unix.SizeofSockaddrInet4, true
	case r.fam == unix.AF_INET6:
		// IPv4 as ::ffff:a.b.c.d, as a dual-stack socket wants it.
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		putPort(&sa.Port, dst.Port())
		return unix.SizeofSockaddrInet6, true
	}
	return 0, false
}

// next returns the next datagram, read with up to readBatch others by one recvmmsg(2) into
// the reader's buffer, waiting as net.UDPConn.ReadFrom does when there is none. size is the
// caller's buffer size: a datagram is cut to it, as ReadFrom would cut it. frame is valid
// until the next call, and only one goroutine may call. The source is normalized (see
// normalize); udpAddr gives it as net.UDPConn would have, for what goes on to pion.
func (r *rawUDP) next(size int) (frame []byte, from netip.AddrPort, err error) {
	if r.rnext >= r.rgot {
		if size != r.rsize {
			r.setReadBuffer(size)
		}
		r.rnext, r.rgot = 0, 0
		if err := r.rc.Read(r.readFn); err != nil {
			return nil, netip.AddrPort{}, err // net's *OpError (closed, deadline)
		}
		if r.readErr != 0 {
			err := &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvmmsg", r.readErr)}
			r.readErr = 0
			return nil, netip.AddrPort{}, err
		}
	}
	i := r.rnext
	r.rnext++
	n := int(r.rmsgs[i].Len)
	return r.rbuf[i*r.rsize : i*r.rsize+n], sockaddrAddrPort(&r.rnames[i]), nil
}

// udpAddr is the source of the datagram next returned last, as net.UDPConn.ReadFrom returns
// it.
func (r *rawUDP) udpAddr() *net.UDPAddr { return sockaddrUDPAddr(&r.rnames[r.rnext-1]) }

func (r *rawUDP) setReadBuffer(size int) {
	r.rsize = size
	r.rbuf = make([]byte, readBatch*size)
	for i := range readBatch {
		r.riov[i].Base = &r.rbuf[i*size]
		r.riov[i].SetLen(size)
		r.rmsgs[i].Hdr.Iov = &r.riov[i]
		r.rmsgs[i].Hdr.SetIovlen(1)
		r.rmsgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.rnames[i]))
	}
}

// recvmmsg is readFn: false asks the poller to wait for the socket to be readable.
func (r *rawUDP) recvmmsg(fd uintptr) bool {
	for i := range readBatch {
		r.rmsgs[i].Hdr.Namelen = uint32(unsafe.Sizeof(r.rnames[i]))
		r.rmsgs[i].Hdr.Flags = 0
	}
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.rmsgs[0])), readBatch,
			unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			r.rgot = int(n) //nolint:gosec // ≤ readBatch
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.readErr = errno
		return true
	}
}

// sockaddrAddrPort returns the address in sa (IPv4 or IPv6), normalized.
func sockaddrAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), getPort(&sa4.Port))
	case unix.AF_INET6:
		sa6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa6.Addr).Unmap(), getPort(&sa6.Port))
	}
	return netip.AddrPort{}
}

// sockaddrUDPAddr returns the address in sa as net.UDPConn.ReadFrom does: a 4-byte IP from an
// IPv4 socket, 16 bytes (IPv4-mapped for IPv4 sources) with the interface's name as zone from
// an IPv6 one.
func sockaddrUDPAddr(sa *unix.RawSockaddrAny) *net.UDPAddr {
	switch sa.Addr.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return &net.UDPAddr{IP: append(net.IP(nil), sa4.Addr[:]...), Port: int(getPort(&sa4.Port))}
	case unix.AF_INET6:
		sa6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		ua := &net.UDPAddr{IP: append(net.IP(nil), sa6.Addr[:]...), Port: int(getPort(&sa6.Port))}
		if sa6.Scope_id != 0 {
			ua.Zone = zoneName(int(sa6.Scope_id))
		}
		return ua
	}
	return &net.UDPAddr{}
}

// zoneName is what net puts in UDPAddr.Zone for an interface index.
func zoneName(index int) string {
	if ifc, err := net.InterfaceByIndex(index); err == nil {
		return ifc.Name
	}
	return strconv.Itoa(index)
}

// putPort stores port in network byte order.
func putPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(src *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(src))
	return uint16(b[0])<<8 | uint16(b[1])
}

//go:build linux

package turn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Relay loops read the UDP relay sockets of every allocation, as coturn's relay threads do,
// instead of one goroutine per allocation blocked in its socket's ReadFrom.
//
// With a goroutine per relay socket, each datagram from a peer costs a round through Go's
// poller (an epoll_pwait that finds it, a goroutine readied and scheduled, a recvfrom, and one
// more recvfrom that finds the socket empty before parking again), and each send to a client
// one sendto. Worse, Go registers every socket for EPOLLOUT, edge-triggered, and the kernel
// signals write space after each datagram a socket sends: every relayed datagram also wakes
// Go's poller for nothing. A relay loop instead owns an epoll instance (level-triggered, input
// only) holding its share of the relay sockets, detached from Go's poller (detachUDP); Go's
// poller watches just that instance. Each round takes every ready socket, reads up to
// loopPerSocket datagrams from each with one recvmmsg, checks them exactly as before
// (relayPacketConn.check: permission, policy, bandwidth cap, metrics), frames those on a
// channel as ChannelData in place and sends them all to their clients with one sendmmsg from
// the loop's listener socket. The rest (no channel: pion sends a Data indication) goes to
// pion's goroutine of the allocation, which still reads the relay socket's ReadFrom.
//
// There is one loop per UDP listener socket (Config.UDPSockets, one per CPU by default);
// allocations are spread over them in turn.

const (
	loopBatch     = 64                                   // datagrams per round, and per sendmmsg
	loopPerSocket = 8                                    // datagrams read from one socket per round
	relayMTU      = 1600                                 // read from relay sockets at most, as pion does (longer ones are cut)
	loopSlot      = (chanHeader + relayMTU + 3 + 7) &^ 7 // a datagram framed as padded ChannelData
	loopSlowQueue = 64                                   // datagrams waiting for pion's goroutine of an allocation
)

// relayLoops are a server's loops.
type relayLoops struct {
	loops []*relayLoop
	next  atomic.Uint32
}

// newRelayLoops starts a loop per listener socket; nil (every relay socket then read by its
// own goroutine, through net) if a listener is not a kernel socket or epoll fails.
func newRelayLoops(s *Server) (*relayLoops, error) {
	ls := &relayLoops{}
	for _, g := range s.udp {
		if g.raw == nil {
			ls.stop()
			return nil, nil
		}
		l, err := newRelayLoop(s, g)
		if err != nil {
			ls.stop()
			return nil, err
		}
		ls.loops = append(ls.loops, l)
	}
	for _, l := range ls.loops {
		go l.run()
	}
	return ls, nil
}

// attach takes pc, the relay socket of c, out of Go's poller and gives it to a loop. On
// error pc is left as it was.
func (ls *relayLoops) attach(c *relayPacketConn, pc net.PacketConn) (*loopConn, error) {
	if ls == nil {
		return nil, errNotKernelSocket
	}
	l := ls.loops[int(ls.next.Add(1))%len(ls.loops)]
	return l.attach(c, pc)
}

// sockets is how many relay sockets the loops hold.
func (ls *relayLoops) sockets() int {
	n := 0
	for _, l := range ls.loops {
		l.mu.Lock()
		n += len(l.conns)
		l.mu.Unlock()
	}
	return n
}

// stop ends the loops and waits for them. Their relay sockets are closed by their owners.
func (ls *relayLoops) stop() {
	if ls == nil {
		return
	}
	for _, l := range ls.loops {
		_ = l.ep.Close() // ends the loop's wait, and the loop
	}
	for _, l := range ls.loops {
		<-l.done
	}
}

// relayLoop is one loop: an epoll instance, its goroutine and its buffers.
type relayLoop struct {
	s    *Server
	out  *guardPacketConn // frames to clients leave from this listener socket
	ep   *os.File         // the epoll instance, waited on through Go's poller
	rc   syscall.RawConn
	wait func(fd uintptr) bool // made once
	done chan struct{}

	mu    sync.Mutex
	conns map[uint64]*loopConn // by epoll data
	ids   uint64

	// The loop goroutine's own.
	events  [loopBatch]unix.EpollEvent
	nev     int
	ready   [loopBatch]*loopConn
	slots   []byte // loopBatch × loopSlot: datagram i is read at slots[i*loopSlot+chanHeader:]
	in      [loopBatch]unix.Mmsghdr
	inIov   [loopBatch]unix.Iovec
	inName  [loopBatch]unix.RawSockaddrAny
	out_    [loopBatch]unix.Mmsghdr // the frames to send: slot i
	outIov  [loopBatch]unix.Iovec
	outName [loopBatch]unix.RawSockaddrInet6
	outTo   [loopBatch]*clientRoute
	nOut    int
}

func newRelayLoop(s *Server, out *guardPacketConn) (*relayLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("turn: relay loop: epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("turn: relay loop: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "relay-epoll") //nolint:gosec // fd ≥ 0
	rc, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return nil, fmt.Errorf("turn: relay loop: %w", err)
	}
	l := &relayLoop{
		s: s, out: out, ep: ep, rc: rc, done: make(chan struct{}),
		conns: make(map[uint64]*loopConn),
		slots: make([]byte, loopBatch*loopSlot),
	}
	l.wait = l.poll
	for i := range loopBatch {
		l.inIov[i].Base = &l.slots[i*loopSlot+chanHeader]
		l.inIov[i].SetLen(relayMTU)
		l.in[i].Hdr.Iov = &l.inIov[i]
		l.in[i].Hdr.SetIovlen(1)
		l.in[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.inName[i]))
		l.outIov[i].Base = &l.slots[i*loopSlot]
		l.out_[i].Hdr.Iov = &l.outIov[i]
		l.out_[i].Hdr.SetIovlen(1)
		l.out_[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.outName[i]))
	}
	return l, nil
}

// run is the loop: wait for ready sockets, relay, again — until ep is closed.
func (l *relayLoop) run() {
	defer close(l.done)
	for {
		if err := l.rc.Read(l.wait); err != nil {
			return // closed by stop
		}
		l.round()
		// Let the listener's read loop and pion's goroutines run: under load this loop
		// always finds work and would otherwise keep its P until preempted.
		runtime.Gosched()
	}
}

// poll is wait: take the ready sockets without blocking; false asks Go's poller to wait
// until the epoll instance is readable (a socket became ready).
func (l *relayLoop) poll(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&l.events[0])),
		loopBatch, 0, 0, 0)
	if errno != 0 || n == 0 {
		l.nev = 0
		return false // nothing ready (or EINTR): wait
	}
	l.nev = int(n) //nolint:gosec // ≤ loopBatch
	return true
}

// round relays what the ready sockets hold.
func (l *relayLoop) round() {
	l.mu.Lock()
	n := 0
	for _, ev := range l.events[:l.nev] {
		if c := l.conns[epollData(&ev)]; c != nil {
			l.ready[n] = c
			n++
		}
	}
	l.mu.Unlock()
	for i := range n {
		l.drain(l.ready[i])
		l.ready[i] = nil
	}
	l.flush()
}

// drain reads up to loopPerSocket datagrams from c's socket and relays them.
func (l *relayLoop) drain(c *loopConn) {
	if l.nOut > loopBatch-loopPerSocket {
		l.flush()
	}
	first := l.nOut
	if !c.raw.calls.enter() {
		return // closing
	}
	for i := first; i < first+loopPerSocket; i++ {
		l.in[i].Hdr.Namelen = uint32(unsafe.Sizeof(l.inName[i]))
		l.in[i].Hdr.Flags = 0
	}
	got, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, c.raw.fd, uintptr(unsafe.Pointer(&l.in[first])),
		loopPerSocket, unix.MSG_DONTWAIT, 0, 0)
	c.raw.calls.exit()
	if errno != 0 {
		if errno != unix.EAGAIN && errno != unix.EINTR {
			l.s.log.Debug("turn: relay loop: recvmmsg", "relay", c.local.String(), "err", errno.Error())
		}
		return
	}
	for i := first; i < first+int(got); i++ { //nolint:gosec // got ≤ loopPerSocket
		l.relay(c, i, int(l.in[i].Len))
	}
}

// relay decides on the datagram of n bytes in slot i from c's socket: fast path (framed into
// slot l.nOut, which is at most i), pion's goroutine, or dropped.
func (l *relayLoop) relay(c *loopConn, i, n int) {
	rc := c.owner
	peer := sockaddrAddrPort(&l.inName[i])
	if !peer.IsValid() || !rc.check(peer, n) {
		return
	}
	slot := l.slots[i*loopSlot : (i+1)*loopSlot]
	if to := rc.client.Load(); to != nil {
		if ch, ok := rc.chans.byPeer(peer); ok {
			rc.countFrom(n) // relayed, as by pion: what the client's link then drops is not ours
			if h := l.s.cfg.hooks.fastPath; h != nil {
				h(false)
			}
			l.queue(slot, n, ch.num, to)
			return
		}
	}
	d := slowDatagram{b: append([]byte(nil), slot[chanHeader:chanHeader+n]...), from: sockaddrUDPAddr(&l.inName[i])}
	select {
	case c.slow <- d:
		rc.countFrom(n)
	default: // pion's goroutine is behind: dropped, as by a full socket buffer
	}
}

// queue frames the datagram of n bytes in slot as ChannelData on channel num for the client
// at to, moves it to slot l.nOut and adds it to the batch.
func (l *relayLoop) queue(slot []byte, n int, num uint16, to *clientRoute) {
	k := l.nOut
	sl, ok := l.out.raw.sockaddr(&l.outName[k], to.addr)
	if !ok { // cannot happen: the client came in on a socket of this family
		l.s.log.Debug("turn: relay ChannelData to client: address of another family", "client", to.addr.String())
		return
	}
	frame := frameChannelData(slot, n, num)
	if dst := l.slots[k*loopSlot : (k+1)*loopSlot]; &dst[0] != &slot[0] {
		copy(dst, frame)
	}
	l.out_[k].Hdr.Namelen = uint32(sl) //nolint:gosec // a sockaddr's length
	l.outIov[k].SetLen(len(frame))
	l.outTo[k] = to
	l.nOut++
}

// flush sends the batch with sendmmsg. A datagram that fails (the socket buffer full, say)
// is dropped, as on a full link: waiting here would stall every allocation of the loop.
func (l *relayLoop) flush() {
	raw := l.out.raw
	for sent := 0; sent < l.nOut; {
		if !raw.calls.enter() {
			break // the listener is closing
		}
		r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, raw.fd, uintptr(unsafe.Pointer(&l.out_[sent])),
			uintptr(l.nOut-sent), unix.MSG_DONTWAIT, 0, 0)
		raw.calls.exit()
		switch {
		case errno == 0 && r > 0:
			sent += int(r) //nolint:gosec // ≤ loopBatch
		case errno == unix.EINTR:
		default:
			l.s.log.Debug("turn: relay ChannelData to client", "client", l.outTo[sent].addr.String(),
				"err", errno.Error())
			sent++
		}
	}
	for i := range l.nOut {
		l.outTo[i] = nil
	}
	l.nOut = 0
}

// attach takes pc's socket out of Go's poller and into the loop; on error pc is left as it
// was.
func (l *relayLoop) attach(c *relayPacketConn, pc net.PacketConn) (*loopConn, error) {
	fd, fam, err := dupUDP(pc)
	if err != nil {
		return nil, err
	}
	lc := &loopConn{
		loop: l, raw: newRawFD(fd, fam), fd: fd, local: pc.LocalAddr(), owner: c,
		slow: make(chan slowDatagram, loopSlowQueue), done: make(chan struct{}), moved: make(chan struct{}),
	}
	l.mu.Lock()
	l.ids++
	lc.id = l.ids
	l.conns[lc.id] = lc
	l.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEpollData(&ev, lc.id)
	var cerr error
	if err := l.rc.Control(func(epfd uintptr) {
		cerr = unix.EpollCtl(int(epfd), unix.EPOLL_CTL_ADD, fd, &ev) //nolint:gosec // fd fits
	}); err != nil || cerr != nil {
		l.forget(lc.id)
		_ = unix.Close(fd)
		return nil, fmt.Errorf("turn: relay loop: epoll_ctl: %w", errors.Join(err, cerr))
	}
	_ = pc.Close() // takes pc's descriptor out of Go's poller; the socket lives on in fd
	return lc, nil
}

// unregister takes c out of the loop's epoll instance and registry.
func (l *relayLoop) unregister(c *loopConn) {
	_ = l.rc.Control(func(epfd uintptr) {
		_ = unix.EpollCtl(int(epfd), unix.EPOLL_CTL_DEL, c.fd, nil) //nolint:gosec // fd fits
	})
	l.forget(c.id)
}

func (l *relayLoop) forget(id uint64) {
	l.mu.Lock()
	delete(l.conns, id)
	l.mu.Unlock()
}

// epoll_event's data: the loopConn's id.
func setEpollData(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32)) //nolint:gosec // bits, not numbers
}

func epollData(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// loopConn is a relay socket read by a loop, as the net.PacketConn a relayPacketConn wraps:
// ReadFrom hands pion what the loop did not relay itself, already checked and counted;
// WriteTo sends without waiting (a socket outside Go's poller cannot wait for room: a datagram
// it has no room for is an error, and dropped, as on a full link).
type loopConn struct {
	loop  *relayLoop
	id    uint64
	raw   *rawUDP
	fd    int
	local net.Addr
	owner *relayPacketConn
	slow  chan slowDatagram
	done  chan struct{}

	// direct: the socket left the loop (leave) and pion's goroutine reads it through Go's
	// poller; moved is closed then.
	direct    atomic.Pointer[net.UDPConn]
	moved     chan struct{}
	leaveOnce sync.Once
	closeOnce sync.Once
}

// slowDatagram is a peer's datagram for pion.
type slowDatagram struct {
	b    []byte
	from *net.UDPAddr
}

func (c *loopConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if d := c.direct.Load(); d != nil {
		return c.readDirect(d, p)
	}
	select {
	case d := <-c.slow:
		return copy(p, d.b), d.from, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	case <-c.moved:
		return c.readDirect(c.direct.Load(), p)
	}
}

// readDirect is ReadFrom once the socket left the loop: what the loop had queued, then the
// socket, checked and counted as the loop would.
func (c *loopConn) readDirect(d *net.UDPConn, p []byte) (int, net.Addr, error) {
	select {
	case q := <-c.slow:
		return copy(p, q.b), q.from, nil
	default:
	}
	for {
		n, addr, err := d.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if peer, ok := addrPortOf(addr); ok && c.owner.check(peer, n) {
			c.owner.countFrom(n)
			return n, addr, nil
		}
	}
}

// leave takes the socket out of the loop, for pion's goroutine to read through Go's poller:
// for a client over TCP or TLS, the loop could only hand it every datagram, one more hop than
// the poller. Called before pion starts reading (OnAllocationCreated).
func (c *loopConn) leave() {
	c.leaveOnce.Do(func() {
		if !c.raw.calls.enter() {
			return // closing
		}
		defer c.raw.calls.exit()
		fd, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0) //nolint:gosec // fd ≥ 0
		if err != nil {
			c.loop.s.log.Warn("turn: relay socket stays in its loop", "err", err)
			return
		}
		f := os.NewFile(uintptr(fd), "relay") //nolint:gosec // fd ≥ 0
		pc, err := net.FilePacketConn(f)      // its own descriptor, in Go's poller
		_ = f.Close()
		uc, ok := pc.(*net.UDPConn)
		if err != nil || !ok {
			if pc != nil {
				_ = pc.Close()
			}
			c.loop.s.log.Warn("turn: relay socket stays in its loop", "err", err)
			return
		}
		c.loop.unregister(c)
		c.direct.Store(uc)
		close(c.moved)
	})
}

func (c *loopConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.raw.send(p, addr)
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.local, Addr: addr, Err: err}
	}
	return n, nil
}

// Close unregisters the socket, waits for the loop's calls on it in flight, and closes it.
func (c *loopConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.loop.unregister(c)
		c.raw.close() // waits for the loop's calls, and for leave
		if d := c.direct.Load(); d != nil {
			_ = d.Close()
		}
		_ = unix.Close(c.fd)
	})
	return nil
}

func (c *loopConn) LocalAddr() net.Addr { return c.local }

// errNoDeadline: a loop's relay socket has no deadlines (pion sets none on relay sockets).
var errNoDeadline = errors.New("turn: relay socket: deadlines not supported")

func (c *loopConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (c *loopConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (c *loopConn) SetWriteDeadline(time.Time) error { return errNoDeadline }

// SyscallConn gives the socket's descriptor to Control (socket options); the socket is
// outside Go's poller, so Read and Write are not supported.
func (c *loopConn) SyscallConn() (syscall.RawConn, error) { return loopRawConn{c}, nil }

type loopRawConn struct{ c *loopConn }

// errNoPoller: a loop's relay socket is not in Go's poller.
var errNoPoller = errors.New("turn: relay socket is read by a relay loop, outside Go's poller")

func (r loopRawConn) Control(f func(fd uintptr)) error {
	if !r.c.raw.calls.enter() {
		return net.ErrClosed
	}
	defer r.c.raw.calls.exit()
	f(uintptr(r.c.fd)) //nolint:gosec // fd ≥ 0
	return nil
}

func (loopRawConn) Read(func(fd uintptr) bool) error  { return errNoPoller }
func (loopRawConn) Write(func(fd uintptr) bool) error { return errNoPoller }

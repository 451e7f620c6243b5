package turn

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// The fast path relays ChannelData — what a UDP client sends and receives once it has bound a
// channel to a peer, i.e. nearly every datagram of a WebRTC session — without pion.
//
// pion handles each such datagram with general code: a log call whose arguments are boxed
// even when the level is off, a five-tuple fingerprint and a locked map lookup for the
// allocation, a locked scan of the channels, an allocated ChannelData frame on the way back.
// The fast path keeps its own view of the same state, mirrored from pion's events (allocation
// created, channel created/deleted, as permSet mirrors permissions), and does the same thing
// with lock-free lookups and no allocation:
//
//   - client → peer: the UDP listener's reader (guardPacketConn.ReadFrom) finds the client's
//     allocation and the channel's peer, and writes the payload through the allocation's relay
//     socket (relayPacketConn.sendToPeer: the same policy, egress, bandwidth and metrics as
//     pion's WriteTo goes through). The datagram never reaches pion.
//   - peer → client: the relay socket's reader (relayPacketConn.ReadFrom, pion's goroutine of
//     the allocation) admits the datagram as before (permission, policy, bandwidth, metrics),
//     then, if the peer has a channel, frames it as ChannelData in place and sends it to the
//     client from the listener socket, and reads on without returning to pion.
//
// Whatever the fast path does not know — no allocation of that client, no such channel, a
// client over TCP or TLS, a socket that is not the kernel's (Config.Net) — goes to pion as
// before, which then decides as it always did. The fast path only ever acts on a channel pion
// has bound (after the guard and the PermissionHandler), so it grants nothing pion would not.

// chanHeader is the ChannelData header: channel number and length (RFC 8656 §12.4).
const chanHeader = 4

// Channel numbers (RFC 8656 §12): pion accepts 0x4000 through 0x7FFF.
const (
	minChannel = 0x4000
	maxChannel = 0x7FFF
)

// channelData returns the channel number and payload of a ChannelData frame exactly where
// pion would handle frame as one (proto.IsChannelData, then Decode): a valid number and a
// length field within the frame; trailing bytes (padding) are ignored.
func channelData(frame []byte) (uint16, []byte, bool) {
	if len(frame) < chanHeader {
		return 0, nil, false
	}
	num := binary.BigEndian.Uint16(frame[0:2])
	l := int(binary.BigEndian.Uint16(frame[2:4]))
	if num < minChannel || num > maxChannel || l > len(frame)-chanHeader {
		return 0, nil, false
	}
	return num, frame[chanHeader : chanHeader+l], true
}

// clientRoute is where a UDP allocation's client is: the peer → client fast path sends there.
type clientRoute struct {
	addr netip.AddrPort // normalized
	ua   net.Addr       // as pion has it, for net.UDPConn's WriteTo when the raw send cannot
}

// channel is one channel binding of an allocation.
type channel struct {
	num  uint16
	peer netip.AddrPort // normalized
	addr net.Addr       // as pion has it
}

// chanSet mirrors pion's channel bindings of one UDP allocation. As permSet, it is copied on
// write: bindings change a few times in an allocation's life, and both readers (the listener's
// and the allocation's) look it up on every datagram without a lock. An allocation has a
// handful of channels at most, so a slice beats a map.
type chanSet struct {
	mu   sync.Mutex // serializes writers
	list atomic.Pointer[[]channel]
}

// bind adds (on) or removes the binding of ch.num.
func (cs *chanSet) bind(ch channel, on bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var next []channel
	if cur := cs.list.Load(); cur != nil {
		next = slices.DeleteFunc(slices.Clone(*cur), func(c channel) bool { return c.num == ch.num })
	}
	if on {
		next = append(next, ch)
	}
	cs.list.Store(&next)
}

func (cs *chanSet) byNumber(num uint16) (channel, bool) {
	if cur := cs.list.Load(); cur != nil {
		for _, c := range *cur {
			if c.num == num {
				return c, true
			}
		}
	}
	return channel{}, false
}

func (cs *chanSet) byPeer(peer netip.AddrPort) (channel, bool) {
	if cur := cs.list.Load(); cur != nil {
		for _, c := range *cur {
			if c.peer == peer {
				return c, true
			}
		}
	}
	return channel{}, false
}

// onAllocationCreated gives a UDP client's relay socket its route back to the client, and
// the listener its way to the allocation. Other relay sockets leave their loop: pion sends
// everything to their clients.
func (s *Server) onAllocationCreated(src, _ net.Addr, protocol, _, _ string, relay net.Addr, _ int) {
	c := s.relays.udpConn(relay)
	if c == nil {
		return // a TCP allocation
	}
	ua, isUDP := src.(*net.UDPAddr)
	client, ok := addrPortOf(src)
	if protocol != "UDP" || !isUDP || ua.Zone != "" || !ok {
		// A client over TCP or TLS: pion frames and sends. A zone: net.UDPConn's path.
		if c.lc != nil {
			c.lc.leave()
		}
		return
	}
	c.client.Store(&clientRoute{addr: client, ua: src})
	s.udpClients.Store(client, c)
	if c.closed.Load() { // closed meanwhile: its Close may have looked before the Store
		s.udpClients.CompareAndDelete(client, c)
	}
}

// onChannel keeps the relay sockets' mirror of pion's channel bindings.
func (s *Server) onChannel(on bool) func(_, _ net.Addr, _, _, _ string, relay, peer net.Addr, num uint16) {
	return func(_, _ net.Addr, _, _, _ string, relay, peer net.Addr, num uint16) {
		c := s.relays.udpConn(relay)
		p, ok := addrPortOf(peer)
		if c == nil || !ok {
			return
		}
		c.chans.bind(channel{num: num, peer: p, addr: peer}, on)
	}
}

// relayChannelData is the client → peer fast path: it relays frame, a datagram from the UDP
// client from, if it is ChannelData on a channel the fast path knows; false: pion's turn.
func (s *Server) relayChannelData(frame []byte, from netip.AddrPort) bool {
	num, data, ok := channelData(frame)
	if !ok {
		return false
	}
	v, ok := s.udpClients.Load(from)
	if !ok {
		return false
	}
	c := v.(*relayPacketConn) //nolint:forcetypeassert // only these are stored
	ch, ok := c.chans.byNumber(num)
	if !ok {
		return false
	}
	if h := s.cfg.hooks.fastPath; h != nil {
		h(true)
	}
	if _, err := c.sendToPeer(data, ch.peer, ch.addr); err != nil {
		s.log.Debug("turn: relay ChannelData to peer", "client", from.String(), "peer", ch.peer.String(),
			"err", err)
	}
	return true
}

// frameChannelData frames the datagram of n bytes at buf[chanHeader:] as ChannelData on
// channel num in place, as pion does (padded to 4 bytes; buf has room for the padding).
func frameChannelData(buf []byte, n int, num uint16) []byte {
	binary.BigEndian.PutUint16(buf[0:2], num)
	binary.BigEndian.PutUint16(buf[2:4], uint16(n)) //nolint:gosec // n ≤ relayMTU
	end := chanHeader + n
	for end%4 != 0 {
		buf[end] = 0
		end++
	}
	return buf[:end]
}

// errNotKernelSocket: not a kernel UDP socket of an IP family (or not on Linux): no raw
// system calls, no relay loop.
var errNotKernelSocket = errors.New("turn: not a kernel UDP socket")

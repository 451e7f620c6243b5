package turn

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/pion/stun/v4"
)

// The guard looks at every STUN message a client sends before pion does (guard_udp.go and
// guard_tcp.go put it in front of pion's sockets). It exists because pion alone
//
//   - asks its PermissionHandler about one IP without the port, and on ChannelBind answers a
//     refusal with 401 (as if the credentials were wrong) instead of 403;
//   - answers a peer of the other address family (e.g. ::1 or 64:ff9b::7f00:1 on an IPv4
//     allocation) with 443 before the policy is even asked;
//   - installs the permissions it had already granted when a later XOR-PEER-ADDRESS of the
//     same CreatePermission is refused, and reads only the first XOR-PEER-ADDRESS of
//     ChannelBind, Send and Connect (coturn's multi-attribute bypass, inverted);
//   - lets a UDP client ask for a TCP allocation and then Connect, which dials on the
//     listener's single read loop;
//   - never shows its AuthHandler the message, so it cannot try several secrets.
//
// The guard therefore refuses, before pion sees them: a request or indication naming any
// refused peer (403, signed, for requests; dropped silently for Send), ChannelBind, Send and
// Connect with more than one XOR-PEER-ADDRESS (400), an undecodable XOR-PEER-ADDRESS (400),
// and TCP allocations or Connect over UDP (400, RFC 6062 §5.1). It answers only requests that
// authenticate with our credentials (an unauthenticated one goes on to pion, which
// challenges it with 401), so it tells nothing to strangers. pion's PermissionHandler and
// the relay sockets check the policy again behind it.

// verdict of the guard on one inbound frame.
type verdict struct {
	pass  bool   // hand the frame to pion
	reply []byte // else send this back (may be nil: drop silently)
}

var passFrame = verdict{pass: true}

// errPeerRefused is returned by relay sockets asked to reach a refused peer.
var errPeerRefused = errors.New("turn: peer address refused by policy")

// protoTCP is the REQUESTED-TRANSPORT value of TCP (RFC 6062).
const protoTCP = 6

// magicCookie is STUN's fixed header word (RFC 8489 §5), the XOR key of address attributes.
const magicCookie = 0x2112A442

// inspector is one reader's scratch space for the guard (a UDP socket's read loop or a TCP
// connection's), so that checking a Send indication, the one message the guard decodes per
// datagram of payload, allocates nothing. Only its reader uses it.
type inspector struct {
	m     stun.Message
	peers [2]netip.AddrPort // room for the one peer a Send may name, and one too many
}

// inspect decides on one frame received from src over a UDP (overUDP) or TCP connection.
// ChannelData and anything that is not STUN pass: pion checks channels against permissions
// that only the guarded requests can create.
func (s *Server) inspect(in *inspector, frame []byte, src net.Addr, overUDP bool) verdict {
	if !stun.IsMessage(frame) {
		return passFrame
	}
	if decodeType(frame) == stun.NewType(stun.MethodSend, stun.ClassIndication) {
		return s.inspectSend(in, frame, src)
	}
	m := &stun.Message{Raw: append([]byte(nil), frame...)} // Check rewrites Raw: own copy
	if err := m.Decode(); err != nil {
		return passFrame // pion rejects it the same way
	}
	if m.Type.Class == stun.ClassRequest {
		s.keys.prime(m)
	}

	switch {
	case m.Type == stun.NewType(stun.MethodAllocate, stun.ClassRequest):
		if overUDP && requestsTCP(m) {
			return s.refuseRequest(m, src, stun.CodeBadRequest, refusedProto, "TCP allocation over UDP")
		}
		return passFrame
	case m.Type == stun.NewType(stun.MethodConnect, stun.ClassRequest) && overUDP:
		return s.refuseRequest(m, src, stun.CodeBadRequest, refusedProto, "Connect over UDP")
	case m.Type == stun.NewType(stun.MethodCreatePermission, stun.ClassRequest),
		m.Type == stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		m.Type == stun.NewType(stun.MethodConnect, stun.ClassRequest):
		return s.inspectPeers(m, src, nil)
	}
	return passFrame
}

// inspectSend checks a Send indication, which carries payload and may come with every
// datagram. It is decoded in place (decoding only reads Raw; the guard keeps no reference
// to frame once it returns) into the reader's scratch message.
func (s *Server) inspectSend(in *inspector, frame []byte, src net.Addr) verdict {
	in.m.Reset()
	in.m.Raw = frame
	defer func() { in.m.Raw = nil }()
	if err := in.m.Decode(); err != nil {
		return passFrame // pion rejects it the same way
	}
	return s.inspectPeers(&in.m, src, in.peers[:0])
}

// inspectPeers checks every XOR-PEER-ADDRESS of m; buf is scratch space for them.
func (s *Server) inspectPeers(m *stun.Message, src net.Addr, buf []netip.AddrPort) verdict {
	peers, err := peerAddresses(m, buf)
	switch {
	case err != nil:
		return s.refuse(m, src, stun.CodeBadRequest, refusedProto, "undecodable XOR-PEER-ADDRESS")
	case len(peers) == 0:
		return passFrame // pion answers 400
	case len(peers) > 1 && m.Type.Method != stun.MethodCreatePermission:
		return s.refuse(m, src, stun.CodeBadRequest, refusedProto, "several XOR-PEER-ADDRESS")
	}
	for _, p := range peers {
		if ok, reason := s.peerAllowed(p); !ok {
			return s.refuse(m, src, stun.CodeForbidden, refusedPolicy, "peer "+p.String()+": "+reason)
		}
	}
	return passFrame
}

// refuse drops an indication or answers a request.
func (s *Server) refuse(m *stun.Message, src net.Addr, code stun.ErrorCode, metric, why string) verdict {
	if m.Type.Class == stun.ClassIndication {
		s.metrics.refuse(metric)
		s.log.Debug("turn: indication dropped", "method", m.Type.Method.String(), "client", src.String(),
			"why", why)
		return verdict{}
	}
	return s.refuseRequest(m, src, code, metric, why)
}

// refuseRequest answers an authenticated request with code, signed with the requester's
// key; an unauthenticated one passes to pion, which challenges it.
func (s *Server) refuseRequest(m *stun.Message, src net.Addr, code stun.ErrorCode, metric, why string) verdict {
	user, key, ok := s.keys.match(m)
	if !ok {
		return passFrame
	}
	reply, err := stun.Build(
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		code,
		stun.MessageIntegrity(key),
		stun.Fingerprint,
	)
	if err != nil {
		// Building from fixed, valid parts cannot fail; if it did, drop rather than pass.
		s.log.Error("turn: build refusal", "err", err)
		return verdict{}
	}
	s.metrics.refuse(metric)
	s.log.Info("turn: request refused", "method", m.Type.Method.String(), "code", int(code),
		"user", user, "client", src.String(), "why", why)
	return verdict{reply: reply.Raw}
}

// peerAddresses decodes every XOR-PEER-ADDRESS of m, as pion would decode each, appending
// them to buf.
func peerAddresses(m *stun.Message, buf []netip.AddrPort) ([]netip.AddrPort, error) {
	out := buf
	for _, a := range m.Attributes {
		if a.Type != stun.AttrXORPeerAddress {
			continue
		}
		p, err := xorPeerAddress(m, a.Value)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// xorPeerAddress decodes one XOR-PEER-ADDRESS value (RFC 8489 §14.2) the way pion's
// XORMappedAddress does, without its allocations: family, port and address XORed with the
// magic cookie and (IPv6) the transaction ID.
func xorPeerAddress(m *stun.Message, v []byte) (netip.AddrPort, error) {
	if len(v) < 4 {
		return netip.AddrPort{}, errPeerRefused
	}
	port := binary.BigEndian.Uint16(v[2:4]) ^ uint16(magicCookie>>16)
	var key [16]byte
	binary.BigEndian.PutUint32(key[0:4], magicCookie)
	copy(key[4:], m.TransactionID[:])
	switch family := binary.BigEndian.Uint16(v[0:2]); {
	case family == 0x01 && len(v) == 4+4:
		var ip [4]byte
		for i := range ip {
			ip[i] = v[4+i] ^ key[i]
		}
		return netip.AddrPortFrom(netip.AddrFrom4(ip), port), nil
	case family == 0x02 && len(v) == 4+16:
		var ip [16]byte
		for i := range ip {
			ip[i] = v[4+i] ^ key[i]
		}
		return netip.AddrPortFrom(netip.AddrFrom16(ip), port), nil
	}
	return netip.AddrPort{}, errPeerRefused
}

func requestsTCP(m *stun.Message) bool {
	v, err := m.Get(stun.AttrRequestedTransport)
	return err == nil && len(v) >= 1 && v[0] == protoTCP
}

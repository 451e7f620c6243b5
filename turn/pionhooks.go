package turn

import (
	"net"

	pionturn "github.com/pion/turn/v5"
)

// permit is pion's PermissionHandler: CreatePermission (each XOR-PEER-ADDRESS), ChannelBind
// and Connect ask it. It only gets the IP.
func (s *Server) permit(client net.Addr, peerIP net.IP) bool {
	ok, reason := s.policy.Allowed(addrFromIP(peerIP))
	if !ok {
		s.metrics.refuse(refusedPolicy)
		s.log.Info("turn: permission refused", "client", client.String(), "peer", peerIP.String(), "why", reason)
	}
	return ok
}

// authenticate is pion's AuthHandler.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (string, []byte, bool) {
	user, key, ok, why := s.keys.auth(ra)
	if ok && s.revoked.has(user, s.now()) {
		user, key, ok, why = "", nil, false, "revoked"
	}
	if !ok {
		s.metrics.refuse(refusedAuth)
		s.log.Debug("turn: auth refused", "client", ra.SrcAddr.String(), "username", ra.Username,
			"method", ra.Method.String(), "why", string(why))
	}
	return user, key, ok
}

// onAuth counts MESSAGE-INTEGRITY failures (the AuthHandler gave a key; it did not verify).
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	if !verdict {
		s.metrics.refuse(refusedAuth)
		s.log.Debug("turn: auth refused", "client", src.String(), "username", username, "method", method,
			"why", "bad message integrity")
	}
}

// quotaOK is pion's QuotaHandler: a look only (see quota).
func (s *Server) quotaOK(user, _ string, src net.Addr) bool {
	if s.quota.full(user) {
		s.metrics.refuse(refusedQuota)
		s.log.Info("turn: allocation quota reached", "user", user, "client", src.String())
		return false
	}
	return true
}

// onPermission keeps the relay sockets' mirror of pion's permissions.
func (s *Server) onPermission(on bool) func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
	return func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
		s.relays.setPermission(relay, addrFromIP(peer), on)
	}
}

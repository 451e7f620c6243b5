package turn

import (
	"net"
	"strconv"
	"time"
)

// ICEServer is one entry of RTCConfiguration.iceServers, as the browser's
// RTCPeerConnection and pion/webrtc's webrtc.ICEServer take it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServers returns the STUN and TURN entries for one console session, with credentials
// minted with Secrets[0] for user (an opaque session or principal id; it is also the
// allocation quota key) valid for ttl (≤ 0: DefaultCredentialTTL):
//
//	stun:IP:port
//	turn:IP:port?transport=udp, turn:IP:port?transport=tcp
//	turns:NAME:tlsport?transport=tcp
//
// The TCP entry only where the server listens on TCP (see Config.Net); the turns: entry only
// with TLSListenAddr, its host TLSServerName (the name the certificate is for; browsers
// check it) or else PublicIP.
//
// With an empty user only the STUN entry is returned: a browser refuses a turn: URL without
// credentials (the RTCPeerConnection constructor throws), and empty users are never minted.
func (s *Server) ICEServers(user string, ttl time.Duration) []ICEServer {
	if ttl <= 0 {
		ttl = DefaultCredentialTTL
	}
	host := net.JoinHostPort(s.cfg.PublicIP.String(), strconv.Itoa(int(s.port)))
	out := []ICEServer{{URLs: []string{"stun:" + host}}}
	username, password := MintCredentials(s.cfg.Secrets[0], user, s.now().Add(ttl))
	if username == "" {
		return out
	}
	urls := []string{"turn:" + host + "?transport=udp"}
	if s.tcp != nil {
		urls = append(urls, "turn:"+host+"?transport=tcp")
	}
	if s.tls != nil {
		name := s.cfg.TLSServerName
		if name == "" {
			name = s.cfg.PublicIP.String()
		}
		urls = append(urls, "turns:"+net.JoinHostPort(name, strconv.Itoa(int(s.tlsPort)))+"?transport=tcp")
	}
	return append(out, ICEServer{URLs: urls, Username: username, Credential: password})
}

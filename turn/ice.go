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
	return append(out, ICEServer{
		URLs:       []string{"turn:" + host + "?transport=udp", "turn:" + host + "?transport=tcp"},
		Username:   username,
		Credential: password,
	})
}

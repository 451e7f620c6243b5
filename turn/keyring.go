package turn

import (
	"sync"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
)

// keyring turns TURN REST usernames into STUN long-term keys for pion's AuthHandler.
//
// pion asks its AuthHandler for one key per username and checks MESSAGE-INTEGRITY with it;
// it never shows the handler the message. With several secrets (rotation) the right key is
// the one whose integrity verifies, so the STUN guard, which sees every message first,
// finds it (match) and remembers it per username; the AuthHandler then hands that key to
// pion. The key is a pure function of (username, realm, secret), so a remembered key is
// right for every later message with that username; forged messages never verify and are
// never remembered. Without the guard (or on a miss) the key of Secrets[0] is used.
type keyring struct {
	secrets [][]byte
	realm   string
	now     func() time.Time

	mu    sync.Mutex
	cache map[string][]byte // username → key that verified a message; only with ≥2 secrets
}

// keyCacheMax bounds the cache; past it the cache is dropped and refilled by the guard.
const keyCacheMax = 8192

func newKeyring(secrets [][]byte, realm string, now func() time.Time) *keyring {
	return &keyring{secrets: secrets, realm: realm, now: now, cache: make(map[string][]byte)}
}

// authFailure says why auth refused a request, for logs and metrics.
type authFailure string

// auth is pion's AuthHandler. The user part of the username is the allocation's user ID
// (quota key, and owner of the allocation for later requests).
//
// Expiry is enforced on Allocate only, as coturn does: a console that outlives its
// credentials keeps its relay (Refresh, CreatePermission, ChannelBind with the credentials
// the allocation was made with still need a valid MAC and the allocation's 5-tuple), but no
// new allocation can be made with them.
func (k *keyring) auth(ra *pionturn.RequestAttributes) (userID string, key []byte, ok bool, why authFailure) {
	if ra.Realm != k.realm {
		return "", nil, false, "wrong realm"
	}
	expiry, user, err := parseUsername(ra.Username)
	if err != nil {
		return "", nil, false, "malformed username"
	}
	if ra.Method == stun.MethodAllocate && k.now().After(expiry) {
		return "", nil, false, "expired"
	}
	if key = k.cached(ra.Username); key == nil {
		key = longTermKey(k.secrets[0], ra.Username, k.realm)
	}
	return user, key, true, ""
}

func (k *keyring) cached(username string) []byte {
	if len(k.secrets) < 2 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cache[username]
}

// prime makes sure the key of m's username is known before pion authenticates m. It only
// costs anything with several secrets and an unseen username.
func (k *keyring) prime(m *stun.Message) {
	if len(k.secrets) < 2 || !m.Contains(stun.AttrMessageIntegrity) {
		return
	}
	var u stun.Username
	if u.GetFrom(m) != nil || k.cached(u.String()) != nil {
		return
	}
	k.match(m)
}

// match authenticates m on its own: well-formed username, our realm, MESSAGE-INTEGRITY
// made with one of the secrets. Expiry is not checked (see auth). It returns the user part
// and the key, which the guard uses to sign its own error responses.
func (k *keyring) match(m *stun.Message) (user string, key []byte, ok bool) {
	var (
		u stun.Username
		r stun.Realm
	)
	if !m.Contains(stun.AttrMessageIntegrity) || u.GetFrom(m) != nil || r.GetFrom(m) != nil {
		return "", nil, false
	}
	if r.String() != k.realm {
		return "", nil, false
	}
	username := u.String()
	_, user, err := parseUsername(username)
	if err != nil {
		return "", nil, false
	}
	if key = k.cached(username); key != nil {
		return user, key, stun.MessageIntegrity(key).Check(m) == nil
	}
	for _, s := range k.secrets {
		key = longTermKey(s, username, k.realm)
		if stun.MessageIntegrity(key).Check(m) == nil {
			k.remember(username, key)
			return user, key, true
		}
	}
	return "", nil, false
}

func (k *keyring) remember(username string, key []byte) {
	if len(k.secrets) < 2 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.cache) >= keyCacheMax {
		clear(k.cache)
	}
	k.cache[username] = key
}

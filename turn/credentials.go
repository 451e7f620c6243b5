package turn

import (
	"crypto/hmac"
	"crypto/md5"  //nolint:gosec // the STUN long-term credential key is MD5 by RFC 5389
	"crypto/sha1" //nolint:gosec // coturn's TURN REST API password is HMAC-SHA1
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Time-limited credentials as coturn's use-auth-secret ("TURN REST API",
// draft-uberti-behave-turn-rest-00) defines them, so a coturn can verify what kvmrelay mints
// and the other way round:
//
//	username = "<expiry unix seconds>:<user>"
//	password = base64(HMAC-SHA1(secret, username))
//
// The user part may itself contain ':'; the expiry is everything before the first one.

// Sentinel errors of credential checks.
var (
	ErrNoSecret          = errors.New("turn: no usable shared secret")
	ErrWeakSecret        = errors.New("turn: shared secret shorter than MinSecretLen")
	ErrMalformedUsername = errors.New("turn: username is not \"expiry:user\"")
	ErrBadPassword       = errors.New("turn: password does not match any secret")
	ErrExpired           = errors.New("turn: credentials expired")
)

// MinSecretLen is the shortest shared secret New accepts (128 bits).
const MinSecretLen = 16

// maxUserLen bounds the user part: STUN USERNAME is at most 513 bytes (RFC 8489 §14.3) and
// the expiry takes up to 20 of them.
const maxUserLen = 480

// MintCredentials returns a TURN REST username and password for user, valid until expires.
// An empty secret or user gives empty strings: such credentials could be forged by anyone
// (HMAC with an empty key) or collide with every other empty user, and no verifier here
// accepts them.
func MintCredentials(secret []byte, user string, expires time.Time) (username, password string) {
	if len(secret) == 0 || user == "" || len(user) > maxUserLen {
		return "", ""
	}
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	return username, base64.StdEncoding.EncodeToString(restMAC(secret, username))
}

// VerifyCredentials checks a TURN REST username and password against every secret (during a
// rotation several are valid) and the expiry against now. It returns the user part.
//
// The password is compared in constant time with hmac.Equal, and every secret is tried
// whatever the outcome, so timing tells neither the MAC nor which secret matched. Empty
// secrets are skipped and an empty or mis-sized password never matches.
func VerifyCredentials(secrets [][]byte, username, password string, now time.Time) (user string, err error) {
	expiry, user, err := parseUsername(username)
	if err != nil {
		return "", err
	}
	got, err := base64.StdEncoding.Strict().DecodeString(password)
	if err != nil || len(got) != sha1.Size {
		return "", ErrBadPassword
	}
	matched, usable := false, false
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		usable = true
		if hmac.Equal(restMAC(s, username), got) {
			matched = true
		}
	}
	switch {
	case !usable:
		return "", ErrNoSecret
	case !matched:
		return "", ErrBadPassword
	case now.After(expiry):
		return "", ErrExpired
	}
	return user, nil
}

// parseUsername splits "expiry:user". The expiry is plain decimal seconds (no sign, no
// leading '+', at most 19 digits) and the user part is non-empty.
func parseUsername(username string) (expiry time.Time, user string, err error) {
	ts, user, found := strings.Cut(username, ":")
	if !found || user == "" || len(user) > maxUserLen || ts == "" || len(ts) > 19 {
		return time.Time{}, "", ErrMalformedUsername
	}
	for i := range len(ts) {
		if ts[i] < '0' || ts[i] > '9' {
			return time.Time{}, "", ErrMalformedUsername
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", ErrMalformedUsername
	}
	return time.Unix(sec, 0), user, nil
}

func restMAC(secret []byte, username string) []byte {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username)) //nolint:errcheck // hash writes never fail
	return m.Sum(nil)
}

// longTermKey is the STUN long-term credential key MD5(username ":" realm ":" password)
// (RFC 5389 §15.4) for the REST password of username under secret.
func longTermKey(secret []byte, username, realm string) []byte {
	password := base64.StdEncoding.EncodeToString(restMAC(secret, username))
	h := md5.New()                                           //nolint:gosec // mandated by RFC 5389
	h.Write([]byte(username + ":" + realm + ":" + password)) //nolint:errcheck // hash writes never fail
	return h.Sum(nil)
}

package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // reference computation of the coturn scheme
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMintCredentialsIsCoturnFormat(t *testing.T) {
	secret := []byte("north-north-north-north")
	expires := time.Unix(1700000600, 0)
	username, password := MintCredentials(secret, "session-42", expires)
	assert.Equal(t, "1700000600:session-42", username)

	// What coturn computes (and every TURN REST example): base64(HMAC-SHA1(secret, username)).
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	assert.Equal(t, base64.StdEncoding.EncodeToString(m.Sum(nil)), password)
}

func TestMintCredentialsRefusesEmptyInputs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
		user   string
	}{
		{"empty secret", nil, "u"},
		{"empty user", testSecret, ""},
		{"oversized user", testSecret, strings.Repeat("u", maxUserLen+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, p := MintCredentials(tc.secret, tc.user, time.Now().Add(time.Hour))
			assert.Empty(t, u)
			assert.Empty(t, p)
		})
	}
}

func TestVerifyCredentials(t *testing.T) {
	now := time.Unix(1700000000, 0)
	oldSecret := []byte("old-secret-old-secret-old")
	newSecret := []byte("new-secret-new-secret-new")
	rotation := [][]byte{newSecret, oldSecret}
	valid := func(secret []byte, user string, ttl time.Duration) (string, string) {
		return MintCredentials(secret, user, now.Add(ttl))
	}
	u, p := valid(newSecret, "alice", time.Minute)
	uOld, pOld := valid(oldSecret, "alice", time.Minute)
	uColon, pColon := valid(newSecret, "tenant:alice", time.Minute)
	uExp, pExp := valid(newSecret, "alice", -time.Second)
	uEdge, pEdge := valid(newSecret, "alice", 0)

	for _, tc := range []struct {
		name               string
		secrets            [][]byte
		username, password string
		wantUser           string
		wantErr            error
	}{
		{"valid", rotation, u, p, "alice", nil},
		{"valid with the old secret during rotation", rotation, uOld, pOld, "alice", nil},
		{"old secret retired", [][]byte{newSecret}, uOld, pOld, "", ErrBadPassword},
		{"user part may hold a colon", rotation, uColon, pColon, "tenant:alice", nil},
		{"valid through the expiry second", rotation, uEdge, pEdge, "alice", nil},
		{"expired", rotation, uExp, pExp, "", ErrExpired},
		{"tampered user part", rotation, strings.Replace(u, "alice", "admin", 1), p, "", ErrBadPassword},
		{"tampered expiry", rotation, "9" + u, p, "", ErrBadPassword},
		{"wrong secret", [][]byte{[]byte("another-secret-entirely")}, u, p, "", ErrBadPassword},
		{"empty password", rotation, u, "", "", ErrBadPassword},
		{"short password", rotation, u, p[:10], "", ErrBadPassword},
		{"password of another username", rotation, u, pColon, "", ErrBadPassword},
		{"non-canonical base64", rotation, u, p + "=", "", ErrBadPassword},
		{"raw MAC bytes as password", rotation, u, string(restMAC(newSecret, u)), "", ErrBadPassword},
		{"empty username", rotation, "", p, "", ErrMalformedUsername},
		{"no separator", rotation, "1700000060", p, "", ErrMalformedUsername},
		{"empty user part", rotation, "1700000060:", p, "", ErrMalformedUsername},
		{"empty expiry", rotation, ":alice", p, "", ErrMalformedUsername},
		{"signed expiry", rotation, "+1700000060:alice", p, "", ErrMalformedUsername},
		{"negative expiry", rotation, "-1:alice", p, "", ErrMalformedUsername},
		{"expiry overflow", rotation, "99999999999999999999:alice", p, "", ErrMalformedUsername},
		{"user first (not our format)", rotation, "alice:1700000060", p, "", ErrMalformedUsername},
		{"no secrets", nil, u, p, "", ErrNoSecret},
		{"only empty secrets", [][]byte{{}, nil}, u, p, "", ErrNoSecret},
		{"empty secret never verifies", [][]byte{{}}, "1700000060:alice",
			base64.StdEncoding.EncodeToString(restMAC(nil, "1700000060:alice")), "", ErrNoSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, err := VerifyCredentials(tc.secrets, tc.username, tc.password, now)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Empty(t, user)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantUser, user)
		})
	}
}

package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password limits: long enough to resist guessing, short enough that hashing one is cheap.
const (
	MinPasswordLen   = 12   // characters
	MaxPasswordBytes = 1024 // bytes
)

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultArgon2Params are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): about
// 50 ms of one core, which a 2-core relay affords for logins without starving consoles.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters read back from a stored hash, so a tampered row cannot make one
// verification take gigabytes or minutes.
const (
	maxArgonMemory  = 256 << 10 // 256 MiB
	maxArgonTime    = 16
	maxArgonThreads = 16
)

func (p Argon2Params) valid() error {
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory:
		return fmt.Errorf("argon2 memory %d KiB out of range", p.Memory)
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("argon2 time %d out of range", p.Time)
	case p.Threads < 1 || p.Threads > maxArgonThreads:
		return fmt.Errorf("argon2 threads %d out of range", p.Threads)
	case p.SaltLen < 8 || p.SaltLen > 64:
		return fmt.Errorf("argon2 salt length %d out of range", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > 64:
		return fmt.Errorf("argon2 key length %d out of range", p.KeyLen)
	}
	return nil
}

// checkPassword enforces the length limits on a new password.
func checkPassword(pw string) error {
	if len(pw) > MaxPasswordBytes {
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordBytes)
	}
	if !utf8.ValidString(pw) {
		return fmt.Errorf("%w: password is not valid UTF-8", ErrInvalid)
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return fmt.Errorf("%w: password shorter than %d characters", ErrInvalid, MinPasswordLen)
	}
	return nil
}

// hash returns the PHC string $argon2id$v=19$m=…,t=…,p=…$salt$hash of pw.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go ≥ 1.24)
	start := time.Now()
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release(false)
	h.runs.Add(1)
	key := argon2.IDKey([]byte(pw), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	h.observe(time.Since(start))
	return encodePHC(h.params, salt, key), nil
}

// verify reports whether pw matches the encoded hash, and whether the hash should be
// replaced because its parameters differ from the hasher's. A malformed hash is an error,
// never a match.
func (h *hasher) verify(ctx context.Context, encoded, pw string) (ok, rehash bool, err error) {
	p, salt, want, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	start := time.Now()
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release(false)
	h.runs.Add(1)
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	h.observe(time.Since(start))
	rehash = p.Memory != h.params.Memory || p.Time != h.params.Time || p.Threads != h.params.Threads ||
		uint32(len(salt)) != h.params.SaltLen || uint32(len(want)) != h.params.KeyLen
	return ok, rehash, nil
}

var b64 = base64.RawStdEncoding

func encodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodePHC parses exactly the form encodePHC writes.
func decodePHC(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("accounts: password hash is not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("accounts: argon2id version %q unsupported", parts[2])
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, fmt.Errorf("accounts: argon2id parameters %q malformed", parts[3])
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return p, nil, nil, fmt.Errorf("accounts: argon2id parameter %q malformed", fields[i])
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("accounts: argon2id parameter %q: %w", fields[i], err)
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return p, nil, nil, fmt.Errorf("accounts: argon2id threads %d out of range", vals[2])
	}
	p.Memory, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("accounts: argon2id salt: %w", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("accounts: argon2id hash: %w", err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.valid(); err != nil {
		return p, nil, nil, fmt.Errorf("accounts: stored hash: %w", err)
	}
	return p, salt, key, nil
}

package accounts

import (
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP per RFC 6238 as every authenticator app does it: SHA-1, 30 s, 6 digits; one step of
// clock skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
	totpDigits = otp.DigitsSix
)

func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// generateTOTP makes a new 160-bit secret and its otpauth:// URL.
func generateTOTP(issuer, account string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  20,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// totpCode is the code for one step (tests use it to play the authenticator).
func totpCode(secret string, step int64) (string, error) {
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// matchTOTP finds the step within the skew window whose code is code and that is later than
// lastStep (a code, once accepted, is never accepted again). It returns 0, false otherwise.
func matchTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != totpDigits.Length() || secret == "" {
		return 0, false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	var found int64
	cur := totpStep(now)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		want, err := totpCode(secret, s)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastStep && s > found {
			found = s
		}
	}
	return found, found != 0
}

// stepGuard remembers the last TOTP step accepted per user in this process. The store keeps
// TOTPLastStep too, but two logins with one code racing through PostgreSQL's read committed
// transactions could both read the old step; the guard makes the check-and-set atomic within
// one relay. Entries live only as long as their code could still verify, and the map is capped.
type stepGuard struct {
	mu    sync.Mutex
	steps map[string]int64
	max   int
}

func newStepGuard(max int) *stepGuard {
	return &stepGuard{steps: make(map[string]int64), max: max}
}

// claim records step for user unless an equal or later step was already claimed.
func (g *stepGuard) claim(user string, step int64, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.steps[user]; ok && last >= step {
		return false
	}
	if len(g.steps) >= g.max {
		g.expire(now)
	}
	if len(g.steps) >= g.max {
		// Still full of live entries: drop one. Its user is then protected by the store's
		// TOTPLastStep alone, as on another relay node.
		for k := range g.steps {
			delete(g.steps, k)
			break
		}
	}
	g.steps[user] = step
	return true
}

// release undoes a claim whose login then failed for another reason, or rolled back.
func (g *stepGuard) release(user string, step int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.steps[user] == step {
		delete(g.steps, user)
	}
}

// expire drops steps whose codes no clock within the skew accepts any more.
func (g *stepGuard) expire(now time.Time) {
	oldest := totpStep(now) - totpSkew
	for k, s := range g.steps {
		if s < oldest {
			delete(g.steps, k)
		}
	}
}

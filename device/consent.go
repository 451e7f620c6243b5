package device

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ConsentState is where a machine's user consent stands (Intel AMT shows a 6-digit code on
// the managed machine's screen that the person at the console must type).
type ConsentState string

// Consent states, as consoles see them.
const (
	// ConsentNone: nothing asked.
	ConsentNone ConsentState = ""
	// ConsentRequired: a code is on the machine's screen; type it before Expires.
	ConsentRequired ConsentState = "required"
	// ConsentAccepted: the machine took the code; the console connects.
	ConsentAccepted ConsentState = "accepted"
	// ConsentExpired: the window closed without a right code.
	ConsentExpired ConsentState = "expired"
	// ConsentCancelled: someone cancelled the request.
	ConsentCancelled ConsentState = "cancelled"
)

// Sentinel errors of the consent exchange.
var (
	// ErrNoConsentPending: a code came while no machine asked for one.
	ErrNoConsentPending = errors.New("no consent code is being asked for")
	// ErrConsentExpired: the consent window closed.
	ErrConsentExpired = errors.New("user consent expired: the code was not entered in time")
	// ErrConsentCancelled: the request was cancelled from a console or the API.
	ErrConsentCancelled = errors.New("user consent cancelled")
	// ErrConsentAttempts: too many wrong codes in one window; the request is withdrawn.
	ErrConsentAttempts = errors.New("too many wrong consent codes; open the console again for a new code")
	// ErrBadConsentCode: the code is not six digits.
	ErrBadConsentCode = errors.New("a consent code is the 6 digits shown on the machine's screen")
)

// ConsentStatus is the consent exchange now, for consoles.
type ConsentStatus struct {
	State   ConsentState
	Expires time.Time
	// Error is why the last code was refused ("wrong code"); empty otherwise.
	Error string
	// Attempts counts the codes tried in this window.
	Attempts int
}

// Consent connects a source that must ask a person's consent (Open waits in Ask) with the
// consoles that answer (Submit, Cancel). One exchange at a time: the source asks once per
// connection attempt.
type Consent struct {
	mu      sync.Mutex
	status  ConsentStatus
	codes   chan submission // non-nil while Ask waits
	cancel  chan struct{}   // closed by Cancel while Ask waits
	changed chan struct{}
}

type submission struct {
	code  string
	reply chan error
}

// MaxConsentAttempts is how many wrong codes one window takes before the request is
// withdrawn: guessing one of a million codes must not be a matter of patience.
const MaxConsentAttempts = 5

// NewConsent makes an idle exchange.
func NewConsent() *Consent { return &Consent{changed: make(chan struct{})} }

// Status reports the exchange now.
func (c *Consent) Status() ConsentStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Changed returns a channel closed at the next change of Status.
func (c *Consent) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Consent) setLocked(s ConsentStatus) {
	c.status = s
	close(c.changed)
	c.changed = make(chan struct{})
}

// Ask announces that the machine shows a code until expires, and waits for codes: each one
// goes to try (which hands it to the machine), until try accepts one (nil), the window
// closes (ErrConsentExpired), someone cancels (ErrConsentCancelled) or ctx ends. try's error
// for a wrong code is told to the console that sent it, and Ask waits for the next.
func (c *Consent) Ask(ctx context.Context, expires time.Time, try func(ctx context.Context, code string) error) error {
	codes, cancel := make(chan submission), make(chan struct{})
	c.mu.Lock()
	if c.codes != nil {
		c.mu.Unlock()
		return errors.New("device: a consent exchange is already under way")
	}
	c.codes, c.cancel = codes, cancel
	c.setLocked(ConsentStatus{State: ConsentRequired, Expires: expires})
	c.mu.Unlock()
	end := func(state ConsentState, attempts int, why string) {
		c.mu.Lock()
		c.codes, c.cancel = nil, nil
		c.setLocked(ConsentStatus{State: state, Expires: expires, Attempts: attempts, Error: why})
		c.mu.Unlock()
	}
	window := time.NewTimer(time.Until(expires))
	defer window.Stop()
	attempts := 0
	for {
		select {
		case <-ctx.Done():
			end(ConsentNone, attempts, "")
			return ctx.Err()
		case <-window.C:
			end(ConsentExpired, attempts, "")
			return ErrConsentExpired
		case <-cancel:
			end(ConsentCancelled, attempts, "")
			return ErrConsentCancelled
		case sub := <-codes:
			attempts++
			err := try(ctx, sub.code)
			sub.reply <- err
			if err == nil {
				end(ConsentAccepted, attempts, "")
				return nil
			}
			if attempts >= MaxConsentAttempts {
				end(ConsentCancelled, attempts, ErrConsentAttempts.Error())
				return ErrConsentAttempts
			}
			c.mu.Lock()
			c.setLocked(ConsentStatus{State: ConsentRequired, Expires: expires, Error: err.Error(), Attempts: attempts})
			c.mu.Unlock()
		}
	}
}

// Submit hands a code to the waiting source and returns what the machine said: nil when it
// accepted the code, the refusal otherwise.
func (c *Consent) Submit(ctx context.Context, code string) error {
	if !validCode(code) {
		return ErrBadConsentCode
	}
	c.mu.Lock()
	codes := c.codes
	c.mu.Unlock()
	if codes == nil {
		return ErrNoConsentPending
	}
	sub := submission{code: code, reply: make(chan error, 1)}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case codes <- sub:
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-sub.reply:
		return err
	}
}

// Cancel withdraws the request the source is waiting on; false when none is.
func (c *Consent) Cancel() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel == nil {
		return false
	}
	close(c.cancel)
	c.cancel = nil
	return true
}

func validCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

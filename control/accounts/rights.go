package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Errors of re-deriving a stored principal's rights.
var (
	// ErrRightRemoved is matched by every *RightError: the principal had a right it no
	// longer has.
	ErrRightRemoved = errors.New("accounts: right removed")
	// ErrNotStored: the principal's rights are not kept in the store (an OIDC subject: its
	// role and scope come with each token from the identity provider), so they cannot be
	// re-derived here.
	ErrNotStored = errors.New("accounts: principal not stored")
)

// RightError says which right is gone, in words the principal's console can show.
type RightError struct {
	Reason string
}

func (e *RightError) Error() string        { return "accounts: " + e.Reason }
func (e *RightError) Is(target error) bool { return target == ErrRightRemoved }

func removed(format string, args ...any) error {
	return &RightError{Reason: fmt.Sprintf(format, args...)}
}

// userPrincipal is the principal a stored user is, or why it is none (disabled). The one
// place a user's rights are read from the store, for bearer tokens and for re-checks alike.
func userPrincipal(orgID string, u store.User) (Principal, error) {
	if u.Disabled {
		return Principal{}, removed("the account that opened this console was disabled")
	}
	return Principal{OrgID: orgID, Kind: KindUser, ID: u.ID, Email: u.Email, Role: u.Role, Scope: nonEmpty(u.Scope)}, nil
}

// keyPrincipal is the principal a stored API key is, or why it is none (revoked).
func keyPrincipal(orgID string, k store.APIKey) (Principal, error) {
	if k.RevokedAt != nil {
		return Principal{}, removed("the API key that opened this console was revoked")
	}
	return Principal{OrgID: orgID, Kind: KindAPIKey, ID: k.ID, Role: k.Role, Scope: nonEmpty(k.Scope)}, nil
}

// Current re-reads, inside tx, the principal that name ("user:<id>" or "apikey:<id>", as
// Principal.String wrote it) is now: its role and scope as stored. A user who is gone or
// disabled, or a key that is gone or revoked, is a *RightError; an OIDC subject is
// ErrNotStored.
func Current(ctx context.Context, tx store.Tx, name string) (Principal, error) {
	kind, id, _ := strings.Cut(name, ":")
	switch kind {
	case KindUser:
		u, err := tx.User(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, removed("the account that opened this console no longer exists")
		}
		if err != nil {
			return Principal{}, fmt.Errorf("accounts: read %s: %w", name, err)
		}
		// A user the organization's MFA requirement restricts to enrolling a factor holds
		// no other right, a console included (the API refuses them everything else too).
		if enrollOnly, err := mfaEnrollmentRequired(ctx, tx, u); err != nil {
			return Principal{}, fmt.Errorf("accounts: read %s: %w", name, err)
		} else if enrollOnly && !u.Disabled {
			return Principal{}, removed("your organization now requires MFA and your account has none: turn it on " +
				"(Account in the dashboard, or kvmctl mfa enable), then start a new console")
		}
		return userPrincipal(tx.OrgID(), u)
	case KindAPIKey:
		keys, err := tx.APIKeys(ctx)
		if err != nil {
			return Principal{}, fmt.Errorf("accounts: read %s: %w", name, err)
		}
		for _, k := range keys {
			if k.ID == id {
				return keyPrincipal(tx.OrgID(), k)
			}
		}
		return Principal{}, removed("the API key that opened this console no longer exists")
	case KindOIDC, KindRelay:
		return Principal{}, fmt.Errorf("%s: %w", name, ErrNotStored)
	case KindGuest:
		// Outside a session joined through its share (which control/sessions decides
		// before asking here), a guest holds nothing.
		return Principal{}, removed("a guest may only watch through the share link they joined by")
	}
	return Principal{}, removed("the console was opened by %q, which is not a principal of this organization", name)
}

// GrantOn decides what p may do on a console of d, the one place a role becomes a grant:
// owner and admin take control (wire.GrantAdmin), an operator holds it (wire.GrantControl), a
// viewer watches (wire.GrantView). d must be inside p's label scope, exactly as starting a
// console requires. A role without a console (auditor) or a device outside the scope is a
// *RightError naming the device.
func (p Principal) GrantOn(d store.Device) (wire.Grant, error) {
	whose := "your"
	if p.Kind == KindAPIKey {
		whose = "the API key's"
	}
	var g wire.Grant
	switch {
	case p.Can(ConsoleTake):
		g = wire.GrantAdmin
	case p.Can(ConsoleControl):
		g = wire.GrantControl
	case p.Can(ConsoleView):
		g = wire.GrantView
	default:
		return "", removed("%s role (%s) no longer allows consoles on %s", whose, p.Role, d.Name)
	}
	if !p.SeesDevice(d.Labels) {
		return "", removed("%s is no longer within %s device scope (%s)", d.Name, whose, scopeString(p.Scope))
	}
	return g, nil
}

// MayHoldConsole re-derives from the store whether the principal named name may hold a
// console on d now, and with which grant. For principals whose rights are not stored
// (ErrNotStored: OIDC subjects, the relay's operator) it returns an empty grant and no
// error: they keep what their session started with. A removed right is a *RightError;
// anything else is a store error.
func MayHoldConsole(ctx context.Context, tx store.Tx, name string, d store.Device) (wire.Grant, error) {
	p, err := Current(ctx, tx, name)
	if errors.Is(err, ErrNotStored) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return p.GrantOn(d)
}

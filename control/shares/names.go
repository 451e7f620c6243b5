package shares

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// MaxGuestName bounds the name a guest gives, in characters.
const MaxGuestName = 64

// CleanGuestName is the name a guest gave, as stored and shown (with " (guest)" after it):
// surrounding space trimmed, 1 to MaxGuestName printable characters. Control, format and
// invalid characters are refused, not dropped, so the guest sees the name others will see.
func CleanGuestName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if p, bad := safetext.First(name); bad {
		return "", refuse(ErrBadRequest, fmt.Sprintf("Your name may not contain %s: %s.", p, safetext.Allowed))
	}
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxGuestName {
		return "", refuse(ErrBadRequest, fmt.Sprintf("Enter your name, 1 to %d characters: the others watching see it.", MaxGuestName))
	}
	return name, nil
}

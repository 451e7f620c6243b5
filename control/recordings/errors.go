package recordings

import "errors"

// Kinds of error, matched with errors.Is.
var (
	// ErrNotFound: the organization has no such recording (or its files are gone).
	ErrNotFound = errors.New("recordings: not found")
	// ErrRefused: a session whose organization requires recording cannot be recorded, so it
	// must not start (or must end); the *Refusal says why in words for the console.
	ErrRefused = errors.New("recordings: session refused")
)

// Refusal is ErrRefused with the sentence the console shows.
type Refusal struct {
	Msg   string
	Cause error
}

func (r *Refusal) Error() string { return r.Msg }

// Is matches ErrRefused; Unwrap gives the storage error behind it.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }
func (r *Refusal) Unwrap() error        { return r.Cause }

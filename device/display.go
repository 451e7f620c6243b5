package device

import "context"

// Display is one screen of a machine with several (Intel AMT: KVM shows one at a time).
type Display struct {
	Index         int
	Width, Height int
	Role          string // primary, secondary, …
	Current       bool   // the one the source shows
}

// DisplayControl is implemented by a Source whose machine has screens to choose from; a new
// choice takes effect on the next connection (the supervisor reconnects).
type DisplayControl interface {
	Displays(ctx context.Context) ([]Display, error)
	SelectDisplay(index int) error
}

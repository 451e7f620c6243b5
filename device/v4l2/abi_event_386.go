//go:build linux && 386

package v4l2

// The i386 ABI aligns 64-bit members to 4 bytes: no padding.
const (
	eventUnionPad = 0
	eventTailPad  = 0
)

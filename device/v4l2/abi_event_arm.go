//go:build linux && arm

package v4l2

// ARM EABI aligns 64-bit members to 8 bytes, Go on arm to 4: pad as the C compiler does.
const (
	eventUnionPad = 4
	eventTailPad  = 4
)

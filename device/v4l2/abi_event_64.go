//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package v4l2

// On 64-bit architectures the event union aligns to 8 and Go pads the struct's tail itself.
const (
	eventUnionPad = 4
	eventTailPad  = 0
)

//go:build linux && arm

package v4l2

// ARM EABI: the event union aligns to 8, so the struct is 128 bytes.
const abiEvent32 = 128

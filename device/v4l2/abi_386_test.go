//go:build linux && 386

package v4l2

// i386: 64-bit members align to 4, so struct v4l2_event is 120 bytes.
const abiEvent32 = 120

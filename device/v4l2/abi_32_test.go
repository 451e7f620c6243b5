//go:build linux && (arm || 386)

package v4l2

import "unsafe"

// Compile-time checks of the 32-bit layouts (gcc -m32 is rarely at hand): a negative array
// length fails the build. The ioctl numbers follow from these sizes. v4l2_buffer carries the
// 32-bit struct timeval, which the kernel accepts as its *_TIME32 ioctls.
var (
	_ [unsafe.Sizeof(v4l2Buffer{}) - 68]byte
	_ [68 - unsafe.Sizeof(v4l2Buffer{})]byte
	_ [unsafe.Sizeof(v4l2Format{}) - 204]byte
	_ [204 - unsafe.Sizeof(v4l2Format{})]byte
	_ [unsafe.Sizeof(v4l2Plane{}) - 60]byte
	_ [60 - unsafe.Sizeof(v4l2Plane{})]byte
	_ [unsafe.Sizeof(v4l2Event{}) - abiEvent32]byte
	_ [abiEvent32 - unsafe.Sizeof(v4l2Event{})]byte
	_ [unsafe.Sizeof(v4l2Streamparm{}) - 204]byte
	_ [204 - unsafe.Sizeof(v4l2Streamparm{})]byte
)

// Package v4l2 captures video from Linux V4L2 devices: USB HDMI capture dongles (UVC, such as
// MS2109-based sticks) and HDMI-to-CSI bridges on a Raspberry Pi (TC358743 behind unicam, as
// PiKVM uses). The spec is v4l2:///dev/video0?size=1920x1080&fps=30&format=mjpeg, every
// parameter optional.
//
// Negotiation enumerates formats, sizes and frame intervals and picks, in order: a frame rate
// of at least 15 (or the one asked for), the largest size within the bound, the rate closest
// to the one asked for, the format cheapest to turn into I420 (I420, NV12, YUYV/UYVY, then
// MJPEG). On a USB 2 dongle at 1080p that is MJPEG, at 480p raw YUYV. H.264 is used only when
// asked for (format=h264): its frames pass through and the source is a device.Encoded. An HDMI
// bridge's size is its input's (DV timings); when the input changes resolution the capture
// restarts at the new size (V4L2_EVENT_SOURCE_CHANGE).
//
// Streaming uses four mmap buffers on a non-blocking node. Next dequeues every finished buffer,
// requeues all but the newest at once, converts the newest straight from driver memory and
// requeues it: no buffer is held between calls and a slow consumer sees the present, not a
// backlog. A capture that delivers nothing for five seconds (a dongle whose HDMI cable is out)
// fails with ErrNoSignal, and the supervisor shows its card.
//
// The ioctls go through a small interface (vdev) so negotiation and streaming are tested
// against a fake driver that reads and writes the kernel's structs; the structs are checked
// against linux/videodev2.h. No real capture hardware was used in testing.
package v4l2

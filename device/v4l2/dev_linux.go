//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vdev is the V4L2 node as the capture uses it: the raw calls, behind an interface so that
// negotiation and streaming run against a fake in tests.
type vdev interface {
	// ioctl passes arg (a pointer to the request's struct) to the driver.
	ioctl(req uintptr, arg unsafe.Pointer) error
	// mmap maps a driver buffer read-only.
	mmap(offset int64, length int) ([]byte, error)
	munmap(b []byte) error
	// poll waits until a buffer is done (frame), an event is pending (event), wake was
	// called (woken), or timeout passed (all false).
	poll(timeout time.Duration) (pollResult, error)
	// wake makes the poll in progress, or the next one, return at once. Any goroutine.
	wake()
	close() error
}

type pollResult struct {
	frame, event, woken bool
	// hangup is set when the driver reports an error on the queue (device unplugged).
	hangup bool
}

// node is a real V4L2 device node.
type node struct {
	fd int
	// wakeFD is an eventfd polled with the node, so that Close and a cancelled context
	// interrupt a poll without waiting for its timeout.
	wakeFD int

	// mu guards closed: a wake from a late context.AfterFunc must not write to a descriptor
	// number the process has since reused.
	mu     sync.RWMutex
	closed bool
}

// openNode opens path for non-blocking streaming: DQBUF returns EAGAIN when no buffer is
// done, which is how the capture finds the newest one.
func openNode(path string) (vdev, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("v4l2: %s is not a device node; name a /dev/video* device", path)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("v4l2: eventfd: %w", err)
	}
	return &node{fd: fd, wakeFD: wfd}, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return fmt.Errorf("v4l2: no capture device at %s: is it plugged in? (ls /dev/video* /dev/v4l/by-id): %w", path, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("v4l2: permission denied opening %s: add the agent's user to the video group: %w", path, err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("v4l2: %s is busy: another program is capturing from it: %w", path, err)
	}
	return fmt.Errorf("v4l2: open %s: %w", path, err)
}

func (n *node) ioctl(req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(n.fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

func (n *node) mmap(offset int64, length int) ([]byte, error) {
	return unix.Mmap(n.fd, offset, length, unix.PROT_READ, unix.MAP_SHARED)
}

func (n *node) munmap(b []byte) error { return unix.Munmap(b) }

func (n *node) poll(timeout time.Duration) (pollResult, error) {
	ms := int(min(timeout, time.Hour) / time.Millisecond)
	if timeout > 0 && ms == 0 {
		ms = 1
	}
	fds := []unix.PollFd{
		{Fd: int32(n.fd), Events: unix.POLLIN | unix.POLLPRI},
		{Fd: int32(n.wakeFD), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return pollResult{}, fmt.Errorf("v4l2: poll: %w", err)
		}
		break
	}
	var r pollResult
	if fds[1].Revents&unix.POLLIN != 0 {
		var b [8]byte
		_, _ = unix.Read(n.wakeFD, b[:]) // resets the counter
		r.woken = true
	}
	ev := fds[0].Revents
	r.frame = ev&unix.POLLIN != 0
	r.event = ev&unix.POLLPRI != 0
	r.hangup = ev&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0
	return r, nil
}

func (n *node) wake() {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return
	}
	one := [8]byte{1} // any non-zero count wakes
	_, _ = unix.Write(n.wakeFD, one[:])
}

func (n *node) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	_ = unix.Close(n.wakeFD)
	return unix.Close(n.fd)
}

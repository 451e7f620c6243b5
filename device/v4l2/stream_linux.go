//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Bounds on driver buffers.
const (
	maxBuffers     = 32
	maxBufferBytes = 64 << 20
)

// mapped is one driver buffer mapped into the process, a slice per memory plane.
type mapped struct{ planes [][]byte }

// startStreaming allocates and maps the driver's buffers, queues them all and starts the
// stream.
func (c *capture) startStreaming() error {
	rb := v4l2Requestbuffers{Count: uint32(c.cfg.Buffers), Type: c.bufType, Memory: memoryMmap}
	if err := c.dev.ioctl(vidiocReqbufs, unsafe.Pointer(&rb)); err != nil {
		if isErrno(err, unix.EBUSY) {
			return ErrBusy
		}
		return fmt.Errorf("v4l2: VIDIOC_REQBUFS: %w", err)
	}
	c.allocated = true
	if rb.Count < 2 || rb.Count > maxBuffers {
		return fmt.Errorf("v4l2: the driver allocated %d buffers (want 2 to %d)", rb.Count, maxBuffers)
	}
	for i := range rb.Count {
		b := c.newBuffer(i)
		if err := c.dev.ioctl(vidiocQuerybuf, unsafe.Pointer(b)); err != nil {
			return fmt.Errorf("v4l2: VIDIOC_QUERYBUF %d: %w", i, err)
		}
		m, err := c.mapBuffer(b)
		if err != nil {
			return err
		}
		c.bufs = append(c.bufs, m)
	}
	for i := range c.bufs {
		if err := c.queue(uint32(i)); err != nil {
			return err
		}
	}
	typ := int32(c.bufType)
	if err := c.dev.ioctl(vidiocStreamon, unsafe.Pointer(&typ)); err != nil {
		if isErrno(err, unix.ENOLINK) {
			return ErrNoSignal
		}
		return fmt.Errorf("v4l2: VIDIOC_STREAMON: %w", err)
	}
	c.streaming = true
	return nil
}

// newBuffer fills the capture's scratch v4l2_buffer for buffer index, pointing a multi-planar
// one at the scratch plane array. Both live in the capture (on the heap, which does not move)
// for as long as the driver may write them.
func (c *capture) newBuffer(index uint32) *v4l2Buffer {
	c.buf = v4l2Buffer{Index: index, Type: c.bufType, Memory: memoryMmap}
	if c.bufType == bufTypeVideoCaptureMplane {
		c.planes = [maxPlanes]v4l2Plane{}
		c.buf.M = uintptr(unsafe.Pointer(&c.planes[0]))
		c.buf.Length = uint32(c.layout.planes)
	}
	return &c.buf
}

func (c *capture) mapBuffer(b *v4l2Buffer) (mapped, error) {
	type region struct {
		off    int64
		length uint32
	}
	var regions []region
	if c.bufType == bufTypeVideoCaptureMplane {
		if b.Length < uint32(c.layout.planes) || b.Length > maxPlanes {
			return mapped{}, fmt.Errorf("v4l2: buffer %d has %d planes, the format %d", b.Index, b.Length, c.layout.planes)
		}
		for _, p := range c.planes[:c.layout.planes] {
			regions = append(regions, region{int64(uint32(p.M)), p.Length})
		}
	} else {
		regions = append(regions, region{int64(uint32(b.M)), b.Length})
	}
	var m mapped
	for _, r := range regions {
		if r.length == 0 || r.length > maxBufferBytes {
			c.unmap(m)
			return mapped{}, fmt.Errorf("v4l2: buffer %d is %d bytes", b.Index, r.length)
		}
		mem, err := c.dev.mmap(r.off, int(r.length))
		if err != nil {
			c.unmap(m)
			return mapped{}, fmt.Errorf("v4l2: mmap buffer %d: %w", b.Index, err)
		}
		m.planes = append(m.planes, mem)
	}
	return m, nil
}

func (c *capture) unmap(m mapped) {
	for _, p := range m.planes {
		_ = c.dev.munmap(p)
	}
}

// queue hands buffer index back to the driver.
func (c *capture) queue(index uint32) error {
	b := c.newBuffer(index)
	err := c.dev.ioctl(vidiocQbuf, unsafe.Pointer(b))
	runtime.KeepAlive(c)
	if err != nil {
		return fmt.Errorf("v4l2: VIDIOC_QBUF %d: %w", index, err)
	}
	return nil
}

// done is a dequeued buffer: its header, and its planes' bytes as the driver filled them.
type done struct {
	index    uint32
	flags    uint32
	sec, ns  int64
	sequence uint32
	data     [][]byte
}

// errNoBuffer is dequeue's "nothing done yet" (EAGAIN on the non-blocking node).
var errNoBuffer = errors.New("v4l2: no buffer done")

// dequeue takes the next done buffer from the driver.
func (c *capture) dequeue() (done, error) {
	b := c.newBuffer(0)
	err := c.dev.ioctl(vidiocDqbuf, unsafe.Pointer(b))
	runtime.KeepAlive(c)
	switch {
	case isErrno(err, unix.EAGAIN):
		return done{}, errNoBuffer
	case isErrno(err, unix.ENODEV):
		return done{}, errors.New("v4l2: the capture device was unplugged")
	case err != nil:
		return done{}, fmt.Errorf("v4l2: VIDIOC_DQBUF: %w", err)
	case b.Index >= uint32(len(c.bufs)):
		return done{}, fmt.Errorf("v4l2: the driver returned buffer %d of %d", b.Index, len(c.bufs))
	}
	sec, ns := b.Timestamp.Unix()
	d := done{index: b.Index, flags: b.Flags, sec: sec, ns: ns, sequence: b.Sequence}
	m := c.bufs[b.Index]
	if c.bufType != bufTypeVideoCaptureMplane {
		d.data = [][]byte{m.planes[0][:min(int(b.Bytesused), len(m.planes[0]))]}
		return d, nil
	}
	for i, mem := range m.planes {
		p := c.planes[i]
		end := min(int(p.Bytesused), len(mem))
		start := min(int(p.DataOffset), end)
		d.data = append(d.data, mem[start:end])
	}
	return d, nil
}

// stopStreaming stops the stream and frees the buffers; it is safe at any point of
// startStreaming's way.
func (c *capture) stopStreaming() {
	if c.streaming {
		typ := int32(c.bufType)
		_ = c.dev.ioctl(vidiocStreamoff, unsafe.Pointer(&typ))
		c.streaming = false
	}
	for _, m := range c.bufs {
		c.unmap(m)
	}
	c.bufs = nil
	if c.allocated {
		rb := v4l2Requestbuffers{Count: 0, Type: c.bufType, Memory: memoryMmap}
		_ = c.dev.ioctl(vidiocReqbufs, unsafe.Pointer(&rb))
		c.allocated = false
	}
}

//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kvmrelay/kvmrelay/media/mediatest"
)

// fakeDev is a V4L2 driver in miniature: it reads and writes the kernel's structs through the
// same pointers the ioctls carry and keeps videobuf2's rules (no format change while buffers
// exist, no freeing buffers still mapped, EAGAIN on an empty done queue, buffers filled in
// the order they were queued, frames dropped when none is queued).
type fakeDev struct {
	t testing.TB

	// Device description, set before use.
	card         string
	caps         uint32 // device caps (node's)
	formats      []fakeFormat
	dv           *fakeDV // nil: not an HDMI bridge (QUERY_DV_TIMINGS → ENOTTY)
	timePerFrame bool
	maxBuffers   int
	padStride    int // extra bytes per line the driver adds
	busy         bool

	clock *mediatest.Clock
	// frameFor, when set, fills a frame whenever poll finds nothing to report: a device that
	// always has the next picture ready. A frame without planes is none.
	frameFor func(f *fakeDev, seq int) fakeFrame
	// stall makes a poll with nothing ready advance the clock by its timeout and return.
	stall bool

	mu         sync.Mutex
	cur        fakeFmt
	period     interval
	bufs       []*fakeBuf
	order      []int // queued, in fill order
	done       []int
	streaming  bool
	subscribed bool
	events     []uint32 // pending source-change "changes"
	mapped     map[*byte]bool
	seq        int
	closed     bool
	calls      []string
	keyframes  int
	dvSet      [2]int
	mono       time.Duration

	ready  chan struct{}
	wakeCh chan struct{}
}

type fakeFormat struct {
	fcc      fourcc
	sizes    []fakeSize
	stepwise *[6]uint32 // min_w, max_w, step_w, min_h, max_h, step_h
	noSizes  bool       // ENUM_FRAMESIZES unsupported
}

type fakeSize struct {
	w, h    int
	periods []interval
}

type fakeDV struct {
	w, h      int
	pixclock  uint64
	hporch    [3]uint32 // front porch, sync, back porch
	vporch    [3]uint32
	queryErr  error
	interlace bool
}

type fakeFmt struct {
	fcc       fourcc
	w, h      int
	planes    int
	stride    [2]int
	sizeimage [2]int
}

type fakeBuf struct {
	mem       [][]byte
	offset    []uint32
	queued    bool
	done      bool
	bytesused []int
	flags     uint32
	ts        time.Duration
	seq       int
}

// fakeFrame is what the device captures next: per-plane bytes, flags, timestamp age.
type fakeFrame struct {
	planes [][]byte
	flags  uint32
	age    time.Duration // how long before "now" it was captured
}

func newFake(t testing.TB) *fakeDev {
	return &fakeDev{
		t: t, card: "Fake HDMI capture", caps: capVideoCapture | capStreaming, maxBuffers: 8,
		clock:  mediatest.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		mapped: map[*byte]bool{}, ready: make(chan struct{}, 1), wakeCh: make(chan struct{}, 1),
		mono: 1000 * time.Second, timePerFrame: true,
	}
}

func (f *fakeDev) mplane() bool { return f.caps&capVideoCaptureMplane != 0 }

func (f *fakeDev) bufType() uint32 {
	if f.mplane() {
		return bufTypeVideoCaptureMplane
	}
	return bufTypeVideoCapture
}

func (f *fakeDev) monoNow() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono
}

func (f *fakeDev) ioctl(req uintptr, arg unsafe.Pointer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return unix.EBADF
	}
	name, err := f.handle(req, arg)
	f.calls = append(f.calls, name)
	return err
}

func (f *fakeDev) handle(req uintptr, arg unsafe.Pointer) (string, error) {
	switch req {
	case vidiocQuerycap:
		c := (*v4l2Capability)(arg)
		*c = v4l2Capability{Capabilities: f.caps | capDeviceCaps, DeviceCaps: f.caps}
		copy(c.Driver[:], "fake")
		copy(c.Card[:], f.card)
		return "QUERYCAP", nil
	case vidiocEnumFmt:
		d := (*v4l2Fmtdesc)(arg)
		if d.Type != f.bufType() || int(d.Index) >= len(f.formats) {
			return "ENUM_FMT", unix.EINVAL
		}
		d.Pixelformat = uint32(f.formats[d.Index].fcc)
		copy(d.Description[:], f.formats[d.Index].fcc.String())
		return "ENUM_FMT", nil
	case vidiocEnumFramesizes:
		return "ENUM_FRAMESIZES", f.enumSizes((*v4l2Frmsizeenum)(arg))
	case vidiocEnumFrameintervals:
		return "ENUM_FRAMEINTERVALS", f.enumIntervals((*v4l2Frmivalenum)(arg))
	case vidiocSFmt, vidiocGFmt:
		return "S_FMT", f.format((*v4l2Format)(arg), req == vidiocSFmt)
	case vidiocGParm, vidiocSParm:
		p := (*v4l2Streamparm)(arg)
		if p.Type != f.bufType() {
			return "PARM", unix.EINVAL
		}
		cp := p.capture()
		if req == vidiocSParm {
			if !f.timePerFrame {
				return "S_PARM", unix.ENOTTY
			}
			f.period = interval{cp.Timeperframe.Numerator, cp.Timeperframe.Denominator}
		}
		*cp = v4l2Captureparm{Timeperframe: v4l2Fract{f.period.num, f.period.den}}
		if f.timePerFrame {
			cp.Capability = captureparmTimePerFrame
		}
		return "PARM", nil
	case vidiocReqbufs:
		return "REQBUFS", f.reqbufs((*v4l2Requestbuffers)(arg))
	case vidiocQuerybuf:
		return "QUERYBUF", f.querybuf((*v4l2Buffer)(arg))
	case vidiocQbuf:
		return "QBUF", f.qbuf((*v4l2Buffer)(arg))
	case vidiocDqbuf:
		return "DQBUF", f.dqbuf((*v4l2Buffer)(arg))
	case vidiocStreamon, vidiocStreamoff:
		on := req == vidiocStreamon
		if *(*int32)(arg) != int32(f.bufType()) {
			return "STREAM", unix.EINVAL
		}
		if on {
			if len(f.bufs) == 0 {
				return "STREAMON", unix.EINVAL
			}
			f.streaming = true
			return "STREAMON", nil
		}
		f.streaming = false
		for _, b := range f.bufs {
			b.queued, b.done = false, false
		}
		f.order, f.done = nil, nil
		return "STREAMOFF", nil
	case vidiocQueryDVTimings:
		if f.dv == nil {
			return "QUERY_DV_TIMINGS", unix.ENOTTY
		}
		if f.dv.queryErr != nil {
			return "QUERY_DV_TIMINGS", f.dv.queryErr
		}
		f.dv.write((*[132]byte)(arg))
		return "QUERY_DV_TIMINGS", nil
	case vidiocSDVTimings:
		if f.dv == nil {
			return "S_DV_TIMINGS", unix.ENOTTY
		}
		if len(f.bufs) > 0 {
			return "S_DV_TIMINGS", unix.EBUSY
		}
		raw := (*[132]byte)(arg)
		// struct v4l2_dv_timings: __u32 type; then v4l2_bt_timings: width @4, height @8.
		f.dvSet = [2]int{int(binary.NativeEndian.Uint32(raw[4:])), int(binary.NativeEndian.Uint32(raw[8:]))}
		return "S_DV_TIMINGS", nil
	case vidiocSubscribeEvent:
		s := (*v4l2EventSubscription)(arg)
		if f.dv == nil || s.Type != eventSourceChange {
			return "SUBSCRIBE_EVENT", unix.EINVAL
		}
		f.subscribed = true
		return "SUBSCRIBE_EVENT", nil
	case vidiocDqevent:
		if len(f.events) == 0 {
			return "DQEVENT", unix.ENOENT
		}
		e := (*v4l2Event)(arg)
		*e = v4l2Event{Type: eventSourceChange, Pending: uint32(len(f.events) - 1)}
		binary.NativeEndian.PutUint32(e.U[:], f.events[0])
		f.events = f.events[1:]
		return "DQEVENT", nil
	case vidiocSCtrl:
		c := (*v4l2Control)(arg)
		if c.ID != cidMPEGVideoForceKeyFrame || f.cur.fcc != fccH264 {
			return "S_CTRL", unix.EINVAL
		}
		f.keyframes++
		return "S_CTRL", nil
	}
	f.t.Errorf("fake v4l2: unexpected ioctl 0x%08x", req)
	return "?", unix.ENOTTY
}

// write fills a struct v4l2_dv_timings at the kernel's offsets (videodev2.h, packed).
func (d *fakeDV) write(raw *[132]byte) {
	*raw = [132]byte{}
	put := func(off int, v uint32) { binary.NativeEndian.PutUint32(raw[off:], v) }
	put(4, uint32(d.w))
	put(8, uint32(d.h))
	if d.interlace {
		put(12, 1)
	}
	binary.NativeEndian.PutUint64(raw[20:], d.pixclock)
	for i, v := range d.hporch { // hfrontporch @28, hsync @32, hbackporch @36
		put(28+4*i, v)
	}
	for i, v := range d.vporch { // vfrontporch @40, vsync @44, vbackporch @48
		put(40+4*i, v)
	}
}

func (f *fakeDev) findFormat(fcc fourcc) *fakeFormat {
	for i := range f.formats {
		if f.formats[i].fcc == fcc {
			return &f.formats[i]
		}
	}
	return nil
}

func (f *fakeDev) enumSizes(s *v4l2Frmsizeenum) error {
	ff := f.findFormat(fourcc(s.PixelFormat))
	switch {
	case ff == nil, ff.noSizes:
		return unix.EINVAL
	case ff.stepwise != nil:
		if s.Index > 0 {
			return unix.EINVAL
		}
		s.Type, s.Union = frmsizeTypeStepwise, *ff.stepwise
		return nil
	case int(s.Index) >= len(ff.sizes):
		return unix.EINVAL
	}
	sz := ff.sizes[s.Index]
	s.Type = frmsizeTypeDiscrete
	s.Union = [6]uint32{uint32(sz.w), uint32(sz.h)}
	return nil
}

func (f *fakeDev) enumIntervals(e *v4l2Frmivalenum) error {
	ff := f.findFormat(fourcc(e.PixelFormat))
	if ff == nil {
		return unix.EINVAL
	}
	var periods []interval
	if ff.stepwise != nil {
		periods = []interval{{1, 30}, {1, 15}}
	}
	for _, sz := range ff.sizes {
		if sz.w == int(e.Width) && sz.h == int(e.Height) {
			periods = sz.periods
		}
	}
	if int(e.Index) >= len(periods) {
		return unix.EINVAL
	}
	e.Type = frmivalTypeDiscrete
	e.Union[0] = v4l2Fract{periods[e.Index].num, periods[e.Index].den}
	return nil
}

// format is S_FMT/G_FMT: like drivers, S_FMT never refuses a format it does not know; it
// substitutes its first, and snaps the size to one it has.
func (f *fakeDev) format(v *v4l2Format, set bool) error {
	if v.Type != f.bufType() {
		return unix.EINVAL
	}
	if set {
		if f.busy || len(f.bufs) > 0 {
			return unix.EBUSY
		}
		var fcc fourcc
		var w, h int
		if f.mplane() {
			mp := v.mplane()
			fcc, w, h = fourcc(mp.Pixelformat), int(mp.Width), int(mp.Height)
		} else {
			p := v.pix()
			fcc, w, h = fourcc(p.Pixelformat), int(p.Width), int(p.Height)
		}
		ff := f.findFormat(fcc)
		if ff == nil {
			ff = &f.formats[0]
		}
		switch {
		case f.dv != nil:
			w, h = f.dvSet[0], f.dvSet[1]
		case ff.stepwise != nil:
		case len(ff.sizes) > 0 && !slices.ContainsFunc(ff.sizes, func(s fakeSize) bool { return s.w == w && s.h == h }):
			w, h = ff.sizes[0].w, ff.sizes[0].h
		}
		f.cur = fakeFmt{fcc: ff.fcc, w: w, h: h, planes: 1}
		switch formatOf(ff.fcc) {
		case FormatYUYV, FormatUYVY:
			f.cur.stride[0] = 2*w + f.padStride
			f.cur.sizeimage[0] = f.cur.stride[0] * h
		case FormatNV12:
			f.cur.stride[0] = w + f.padStride
			f.cur.sizeimage[0] = f.cur.stride[0] * (h + (h+1)/2)
			if ff.fcc == fccNV12M {
				f.cur.planes = 2
				f.cur.stride[1] = f.cur.stride[0]
				f.cur.sizeimage = [2]int{f.cur.stride[0] * h, f.cur.stride[1] * ((h + 1) / 2)}
			}
		case FormatI420:
			f.cur.stride[0] = w + f.padStride
			f.cur.sizeimage[0] = f.cur.stride[0]*h + 2*(f.cur.stride[0]/2)*((h+1)/2)
		default:
			f.cur.sizeimage[0] = w*h*2 + 4096
		}
	}
	if f.mplane() {
		mp := v.mplane()
		*mp = v4l2PixFormatMplane{Width: uint32(f.cur.w), Height: uint32(f.cur.h), Pixelformat: uint32(f.cur.fcc), NumPlanes: uint8(f.cur.planes)}
		for i := range f.cur.planes {
			mp.PlaneFmt[i] = v4l2PlanePixFormat{Sizeimage: uint32(f.cur.sizeimage[i]), Bytesperline: uint32(f.cur.stride[i])}
		}
		return nil
	}
	*v.pix() = v4l2PixFormat{Width: uint32(f.cur.w), Height: uint32(f.cur.h), Pixelformat: uint32(f.cur.fcc),
		Bytesperline: uint32(f.cur.stride[0]), Sizeimage: uint32(f.cur.sizeimage[0])}
	return nil
}

func (f *fakeDev) reqbufs(r *v4l2Requestbuffers) error {
	if r.Type != f.bufType() || r.Memory != memoryMmap {
		return unix.EINVAL
	}
	if f.streaming {
		return unix.EBUSY
	}
	if r.Count == 0 {
		for _, b := range f.bufs {
			for _, m := range b.mem {
				if f.mapped[&m[0]] {
					return unix.EBUSY // vb2 refuses to free buffers still mapped
				}
			}
		}
		f.bufs = nil
		return nil
	}
	if len(f.bufs) > 0 {
		return unix.EBUSY
	}
	n := min(int(r.Count), f.maxBuffers)
	for i := range n {
		b := &fakeBuf{}
		for p := range f.cur.planes {
			b.mem = append(b.mem, make([]byte, f.cur.sizeimage[p]))
			b.offset = append(b.offset, uint32(i*0x100000+p*0x10000))
			b.bytesused = append(b.bytesused, 0)
		}
		f.bufs = append(f.bufs, b)
	}
	r.Count = uint32(n)
	return nil
}

// planesOf returns the v4l2_plane array a multi-planar buffer points to.
func (f *fakeDev) planesOf(b *v4l2Buffer) ([]v4l2Plane, error) {
	if b.Length < uint32(f.cur.planes) || b.Length > maxPlanes || b.M == 0 {
		return nil, unix.EINVAL
	}
	p := *(**v4l2Plane)(unsafe.Pointer(&b.M)) // the pointer the caller stored in the union
	return unsafe.Slice(p, b.Length), nil
}

func (f *fakeDev) checkBuf(b *v4l2Buffer) (*fakeBuf, error) {
	if b.Type != f.bufType() || b.Memory != memoryMmap || int(b.Index) >= len(f.bufs) {
		return nil, unix.EINVAL
	}
	return f.bufs[b.Index], nil
}

func (f *fakeDev) querybuf(b *v4l2Buffer) error {
	fb, err := f.checkBuf(b)
	if err != nil {
		return err
	}
	if !f.mplane() {
		b.M, b.Length = uintptr(fb.offset[0]), uint32(len(fb.mem[0]))
		return nil
	}
	planes, err := f.planesOf(b)
	if err != nil {
		return err
	}
	for i := range f.cur.planes {
		planes[i] = v4l2Plane{Length: uint32(len(fb.mem[i])), M: uintptr(fb.offset[i])}
	}
	b.Length = uint32(f.cur.planes)
	return nil
}

func (f *fakeDev) qbuf(b *v4l2Buffer) error {
	fb, err := f.checkBuf(b)
	if err != nil {
		return err
	}
	if f.mplane() {
		if _, err := f.planesOf(b); err != nil {
			return err
		}
	}
	if fb.queued || fb.done {
		return unix.EINVAL
	}
	fb.queued = true
	f.order = append(f.order, int(b.Index))
	return nil
}

func (f *fakeDev) dqbuf(b *v4l2Buffer) error {
	if b.Type != f.bufType() || b.Memory != memoryMmap || !f.streaming {
		return unix.EINVAL
	}
	var planes []v4l2Plane
	if f.mplane() {
		var err error
		if planes, err = f.planesOf(b); err != nil {
			return err
		}
	}
	if len(f.done) == 0 {
		return unix.EAGAIN
	}
	i := f.done[0]
	f.done = f.done[1:]
	fb := f.bufs[i]
	fb.done = false
	b.Index, b.Flags, b.Sequence = uint32(i), fb.flags|bufFlagTimestampMonotonic, uint32(fb.seq)
	b.Timestamp = unix.NsecToTimeval(int64(fb.ts))
	if !f.mplane() {
		b.Bytesused, b.Length, b.M = uint32(fb.bytesused[0]), uint32(len(fb.mem[0])), uintptr(fb.offset[0])
		return nil
	}
	for p := range f.cur.planes {
		planes[p] = v4l2Plane{Bytesused: uint32(fb.bytesused[p]), Length: uint32(len(fb.mem[p])), M: uintptr(fb.offset[p])}
	}
	b.Length = uint32(f.cur.planes)
	return nil
}

func (f *fakeDev) mmap(offset int64, length int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.bufs {
		for p, off := range b.offset {
			if int64(off) == offset {
				if length != len(b.mem[p]) {
					return nil, unix.EINVAL
				}
				f.mapped[&b.mem[p][0]] = true
				return b.mem[p], nil
			}
		}
	}
	return nil, unix.EINVAL
}

func (f *fakeDev) munmap(m []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(m) == 0 || !f.mapped[&m[0]] {
		return unix.EINVAL
	}
	delete(f.mapped, &m[0])
	return nil
}

// produce captures a frame into the first queued buffer, as the hardware would; false when
// every buffer is with the application (the frame is lost).
func (f *fakeDev) produce(fr fakeFrame) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.produceLocked(fr)
}

func (f *fakeDev) produceLocked(fr fakeFrame) bool {
	if !f.streaming || len(f.order) == 0 {
		return false
	}
	i := f.order[0]
	f.order = f.order[1:]
	b := f.bufs[i]
	for p := range b.mem {
		var src []byte
		if p < len(fr.planes) {
			src = fr.planes[p]
		}
		b.bytesused[p] = copy(b.mem[p], src)
	}
	f.seq++
	b.queued, b.done, b.flags, b.seq = false, true, fr.flags, f.seq
	b.ts = f.mono - fr.age
	f.done = append(f.done, i)
	f.signal()
	return true
}

// sourceChange makes the HDMI input switch to w×h (0×0: the signal is lost).
func (f *fakeDev) sourceChange(w, h int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dv.w, f.dv.h = w, h
	f.dv.queryErr = nil
	if w == 0 {
		f.dv.queryErr = unix.ENOLINK
	}
	if f.subscribed {
		f.events = append(f.events, eventSrcChResolution)
	}
	f.signal()
}

func (f *fakeDev) signal() {
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

func (f *fakeDev) poll(timeout time.Duration) (pollResult, error) {
	for {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return pollResult{}, unix.EBADF
		}
		if f.frameFor != nil && f.streaming && len(f.done) == 0 && len(f.events) == 0 {
			if fr := f.frameFor(f, f.seq); fr.planes != nil {
				f.produceLocked(fr)
			}
		}
		r := pollResult{frame: f.streaming && len(f.done) > 0, event: len(f.events) > 0}
		stall := f.stall
		f.mu.Unlock()
		select {
		case <-f.wakeCh:
			r.woken = true
		default:
		}
		if r.frame || r.event || r.woken {
			return r, nil
		}
		if stall {
			f.clock.Advance(timeout)
			return r, nil
		}
		select {
		case <-f.ready:
		case <-f.wakeCh:
			return pollResult{woken: true}, nil
		}
	}
}

func (f *fakeDev) wake() {
	select {
	case f.wakeCh <- struct{}{}:
	default:
	}
}

func (f *fakeDev) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return unix.EBADF
	}
	f.closed = true
	return nil
}

// held counts buffers the application has dequeued and not given back.
func (f *fakeDev) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.bufs {
		if !b.queued && !b.done {
			n++
		}
	}
	return n
}

// checkReleased fails the test unless the capture gave everything back: closed, not
// streaming, nothing mapped, no buffers allocated.
func (f *fakeDev) checkReleased(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed || f.streaming || len(f.mapped) > 0 || len(f.bufs) > 0 {
		t.Errorf("device not released: closed=%v streaming=%v mapped=%d buffers=%d", f.closed, f.streaming, len(f.mapped), len(f.bufs))
	}
}

func (f *fakeDev) callLog() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprint(f.calls)
}

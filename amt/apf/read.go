package apf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Bounds on what a peer may make us read. MPS refuses strings over 2048 bytes and channel
// data over 1 MiB; so do we.
const (
	MaxString      = 2048
	MaxChannelData = 1 << 20
)

// Sentinel errors of ReadMessage; the caller drops the link on any of them.
var (
	ErrUnknownMessage = errors.New("apf: unknown message type")
	ErrTooLong        = errors.New("apf: length over limit")
	ErrMalformed      = errors.New("apf: malformed message")
)

// ReadMessage reads exactly one message. Channel data longer than maxData (MaxChannelData
// when maxData <= 0 or above it) and strings over MaxString are ErrTooLong, before anything is
// allocated for them. io.EOF means the stream ended cleanly between messages;
// io.ErrUnexpectedEOF that it ended inside one.
func ReadMessage(r *bufio.Reader, maxData int) (Message, error) {
	if maxData <= 0 || maxData > MaxChannelData {
		maxData = MaxChannelData
	}
	t, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	d := decoder{r: r}
	m := d.message(MsgType(t), maxData)
	if d.err != nil {
		if d.err == io.EOF {
			d.err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("apf: reading message %d: %w", t, d.err)
	}
	return m, nil
}

// decoder reads fields with a sticky error, so a message reads as straight-line code.
type decoder struct {
	r   *bufio.Reader
	err error
	buf [8]byte
}

func (d *decoder) message(t MsgType, maxData int) Message {
	switch t {
	case MsgDisconnect:
		return &Disconnect{Reason: d.u32(), Reserved: d.u16()}
	case MsgServiceRequest:
		return &ServiceRequest{Service: d.str()}
	case MsgServiceAccept:
		return &ServiceAccept{Service: d.str()}
	case MsgUserAuthRequest:
		return d.userAuthRequest()
	case MsgUserAuthFailure:
		return &UserAuthFailure{Methods: d.str(), Reserved: d.u16()}
	case MsgUserAuthSuccess:
		return &UserAuthSuccess{}
	case MsgGlobalRequest:
		return d.globalRequest()
	case MsgRequestSuccess:
		return &RequestSuccess{Port: d.u32()}
	case MsgRequestFailure:
		return &RequestFailure{}
	case MsgChannelOpen:
		m := &ChannelOpen{ChannelType: d.str(), Sender: d.u32(), Window: d.u32(), MaxPacket: d.u32()}
		m.Addr, m.Port = d.str(), d.u32()
		m.OriginAddr, m.OriginPort = d.str(), d.u32()
		return m
	case MsgChannelOpenConfirmation:
		return &ChannelOpenConfirmation{Recipient: d.u32(), Sender: d.u32(), Window: d.u32(), MaxPacket: d.u32()}
	case MsgChannelOpenFailure:
		return &ChannelOpenFailure{Recipient: d.u32(), Reason: d.u32(), Reserved1: d.u32(), Reserved2: d.u32()}
	case MsgWindowAdjust:
		return &WindowAdjust{Recipient: d.u32(), Bytes: d.u32()}
	case MsgChannelData:
		m := &ChannelData{Recipient: d.u32()}
		m.Data = d.bytes(maxData)
		return m
	case MsgChannelClose:
		return &ChannelClose{Recipient: d.u32()}
	case MsgProtocolVersion:
		m := &ProtocolVersion{Major: d.u32(), Minor: d.u32(), Trigger: d.u32()}
		var w [16]byte
		d.full(w[:])
		m.GUID = guidFromWire(w)
		d.full(m.Reserved[:])
		return m
	case MsgKeepAliveRequest:
		return &KeepAliveRequest{Cookie: d.u32()}
	case MsgKeepAliveReply:
		return &KeepAliveReply{Cookie: d.u32()}
	case MsgKeepAliveOptionsRequest:
		return &KeepAliveOptionsRequest{Interval: d.u32(), Timeout: d.u32()}
	case MsgKeepAliveOptionsReply:
		return &KeepAliveOptionsReply{Interval: d.u32(), Timeout: d.u32()}
	}
	d.err = fmt.Errorf("%w %d", ErrUnknownMessage, t)
	return nil
}

func (d *decoder) userAuthRequest() Message {
	m := &UserAuthRequest{User: d.str(), Service: d.str()}
	method := d.str()
	if d.err == nil && method != MethodPassword {
		d.err = fmt.Errorf("%w: auth method %q", ErrMalformed, method)
	}
	if change := d.u8(); d.err == nil && change != 0 {
		d.err = fmt.Errorf("%w: password change flag %d", ErrMalformed, change)
	}
	m.Password = d.str()
	return m
}

func (d *decoder) globalRequest() Message {
	m := &GlobalRequest{Name: d.str()}
	if d.err == nil && m.Name != TCPIPForward && m.Name != CancelTCPIPForward {
		d.err = fmt.Errorf("%w: global request %q", ErrMalformed, m.Name)
	}
	m.WantReply = d.boolean()
	m.Addr, m.Port = d.str(), d.u32()
	return m
}

func (d *decoder) full(b []byte) {
	if d.err == nil {
		_, d.err = io.ReadFull(d.r, b)
	}
}

func (d *decoder) u8() byte {
	d.full(d.buf[:1])
	return d.buf[0]
}

func (d *decoder) boolean() bool {
	switch v := d.u8(); {
	case d.err != nil:
		return false
	case v > 1:
		d.err = fmt.Errorf("%w: boolean %d", ErrMalformed, v)
	}
	return d.buf[0] == 1
}

func (d *decoder) u16() uint16 {
	d.full(d.buf[:2])
	if d.err != nil {
		return 0
	}
	return binary.BigEndian.Uint16(d.buf[:2])
}

func (d *decoder) u32() uint32 {
	d.full(d.buf[:4])
	if d.err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(d.buf[:4])
}

func (d *decoder) str() string { return string(d.bytes(MaxString)) }

// bytes reads a u32 length and that many bytes, refusing lengths over limit. The buffer grows
// as bytes arrive, so a peer that announces much and sends little costs little.
func (d *decoder) bytes(limit int) []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(limit) {
		d.err = fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLong, n, limit)
		return nil
	}
	var b bytes.Buffer
	b.Grow(min(int(n), 64<<10))
	got, err := io.CopyN(&b, d.r, int64(n))
	if err != nil {
		d.err = err
		if got < int64(n) && err == io.EOF {
			d.err = io.ErrUnexpectedEOF
		}
		return nil
	}
	return b.Bytes()
}

package hid_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/hidtest"
)

func FuzzDecode(f *testing.F) {
	for _, m := range []hid.Message{
		hid.KeyMsg{Usage: hid.UsageLeftCtrl, Down: true},
		hid.ButtonsMsg{Buttons: hid.ButtonLeft, X: 1, Y: 2},
		hid.ButtonsMsg{X: hid.NoPosition, Y: hid.NoPosition},
		hid.WheelMsg{DX: -1, DY: 1},
		hid.KeepAliveMsg{},
		hid.ReleaseAllMsg{},
		hid.TextMsg{Text: "héllo\n"},
		hid.PointerAbsMsg{Seq: 0xFFFF, X: hid.AbsMax, Y: 0},
		hid.PointerRelMsg{Buttons: hid.ButtonsValid, DX: -1, DY: 1},
	} {
		b, err := hid.Encode(m)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(append([]byte{0x06}, bytes.Repeat([]byte{'x'}, hid.MaxMessageSize)...))

	sentinels := []error{hid.ErrTooShort, hid.ErrBadLength, hid.ErrUnknownType, hid.ErrOutOfRange,
		hid.ErrTooLarge, hid.ErrInvalidUTF8}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := hid.Decode(b)
		if err != nil {
			require.Nil(t, m)
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			require.Equal(t, 1, n, "error %v must wrap exactly one sentinel", err)
			return
		}
		out, err := hid.Encode(m)
		require.NoError(t, err)
		require.Equal(t, b, out, "accepted %#v must re-encode to the same bytes", m)
	})
}

// strictSink fails the test on anything a device would find unbalanced, and keeps only
// counters, so memory stays flat however long the input.
type strictSink struct {
	t       *testing.T
	pressed [256]bool
	buttons hid.Buttons
	calls   int
}

func (s *strictSink) Key(u hid.Usage, isDown bool) error {
	s.calls++
	if u > 0xFF || s.pressed[u] == isDown {
		s.t.Fatalf("unbalanced key %#x down=%t", u, isDown)
	}
	s.pressed[u] = isDown
	return nil
}

func (s *strictSink) Pointer(ev hid.PointerEvent) error {
	s.calls++
	if ev.Absolute && (ev.X < 0 || ev.X > hid.AbsMax || ev.Y < 0 || ev.Y > hid.AbsMax) {
		s.t.Fatalf("position out of range: %+v", ev)
	}
	if ev.Buttons&^hid.ButtonsValid != 0 {
		s.t.Fatalf("undefined buttons: %+v", ev)
	}
	s.buttons = ev.Buttons
	return nil
}

// FuzzDispatcher feeds a script of messages, clock steps and typing turns to a Dispatcher.
// Script ops (first byte & 7): 0 hid message of n bytes, 1 pointer message of n bytes,
// 2 advance the clock, 3 type the next queued text, 4 a long message of a given type and size,
// 5 a string message, 6 and 7 a KEY message.
func FuzzDispatcher(f *testing.F) {
	f.Add([]byte{6, 1, 0xE0, 0, 2, 6, 'a', 'b', 3, 2, 200})
	f.Add([]byte{1, 8, 0x10, 0, 1, 1, 0, 10, 0, 20, 0, 6, 0x02, 0x01, 0, 0, 0, 0, 2, 125})
	f.Add([]byte{4, 0x06, 0x3F, 0xFF, 3, 4, 0x06, 0x40, 0x01, 5, 0, 7, 1, 0x2A})

	f.Fuzz(func(t *testing.T, script []byte) {
		sink := &strictSink{t: t}
		clock := hidtest.NewClock()
		d, err := hid.NewDispatcher(hid.Config{Sink: sink, Clock: clock, RatePerSecond: 200, RateBurst: 20, TextQueue: 3})
		require.NoError(t, err)
		var sent [2]uint64
		send := func(ch hid.Channel, isString bool, msg []byte) {
			sent[ch]++
			d.HandleMessage(ch, isString, msg)
		}
		next := func(n int) []byte {
			n = min(n, len(script))
			b := script[:n]
			script = script[n:]
			return b
		}
		nextByte := func() byte { // 0 once the script ends
			if b := next(1); len(b) == 1 {
				return b[0]
			}
			return 0
		}
		for len(script) > 0 {
			op := nextByte()
			switch op & 7 {
			case 0, 1:
				send(hid.Channel(op&1), false, next(int(nextByte())))
			case 2:
				clock.Advance(time.Duration(nextByte()) * 4 * time.Millisecond)
			case 3:
				d.TypeNext(context.Background())
			case 4:
				hdr := append(next(3), 0, 0, 0)
				size := int(binary.BigEndian.Uint16(hdr[1:]))
				msg := append([]byte{hdr[0]}, bytes.Repeat([]byte{'k'}, size)...)
				send(hid.Channel(op>>3&1), false, msg)
			case 5:
				send(hid.Channel(op>>3&1), true, []byte{byte(hid.TypeKeepAlive)})
			default:
				b := append(next(2), 0, 0)
				send(hid.ChannelHID, false, []byte{byte(hid.TypeKey), b[0] & 1, 0, b[1]})
			}
			require.LessOrEqual(t, d.TextQueued(), d.TextQueueCap())
		}
		require.NoError(t, d.Close())

		for u, p := range sink.pressed {
			require.False(t, p, "key %#x left pressed", u)
		}
		require.Zero(t, sink.buttons, "buttons left pressed")
		snap := d.Stats().Snapshot()
		for ch, cs := range []hid.ChannelSnapshot{snap.HID, snap.Pointer} {
			require.Equal(t, sent[ch], cs.Accepted+cs.DroppedTotal(), fmt.Sprintf("channel %d accounting", ch))
		}
	})
}

package redir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameLen says how long the message at the start of buf is, as far as buf tells: the
// result is len(buf) when buf holds exactly one whole message, more when more bytes are
// needed. It grows monotonically as bytes arrive, and never exceeds 9+MaxAuthDataLen.
func frameLen(buf []byte) (int, error) {
	if len(buf) == 0 {
		return 1, nil
	}
	switch buf[0] {
	case TypeStartRedirectionSession, TypeKVMStart, TypeKVMStartReply:
		return 8, nil
	case TypeEndRedirectionSession:
		return endLen, nil
	case TypeStartRedirectionSessionReply:
		if len(buf) < 4 || buf[1] != StatusSuccess {
			return 4, nil
		}
		if len(buf) < startReplyLen {
			return startReplyLen, nil
		}
		return startReplyLen + int(buf[12]), nil
	case TypeAuthenticateSession, TypeAuthenticateSessionReply:
		if len(buf) < authHeaderLen {
			return authHeaderLen, nil
		}
		n := binary.LittleEndian.Uint32(buf[5:9])
		if n > MaxAuthDataLen {
			return 0, protocolErrorf("authentication message of %d data bytes (at most %d)", n, MaxAuthDataLen)
		}
		return authHeaderLen + int(n), nil
	}
	return 0, protocolErrorf("unknown message type %#02x", buf[0])
}

// ReadMessage reads exactly one message from r and nothing more, so r can be the raw
// connection: after the KVMStartReply the same reader carries RFB. A bufio.Reader works too.
// A clean end of stream before the first byte is io.EOF; malformed or oversized messages are
// ErrProtocol.
func ReadMessage(r io.Reader) (Message, error) {
	var small [startReplyLen]byte
	buf := small[:0]
	for {
		need, err := frameLen(buf)
		if err != nil {
			return nil, err
		}
		if need == len(buf) {
			return decodeFrame(buf)
		}
		if need > cap(buf) {
			nb := make([]byte, len(buf), need)
			copy(nb, buf)
			buf = nb
		}
		n, err := io.ReadFull(r, buf[len(buf):need])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("reading redirection message: %w", err)
		}
	}
}

// decodeFrame decodes one whole message as delimited by frameLen. Variable-length data is
// copied out so the caller may reuse frame.
func decodeFrame(frame []byte) (Message, error) {
	switch frame[0] {
	case TypeStartRedirectionSession:
		var m StartRedirectionSession
		m.Param = frame[1]
		copy(m.Protocol[:], frame[4:8])
		return m, nil
	case TypeStartRedirectionSessionReply:
		m := StartRedirectionSessionReply{Status: frame[1]}
		if m.Status != StatusSuccess {
			return m, nil
		}
		m.ProtocolVersion = binary.LittleEndian.Uint16(frame[4:6])
		m.FirmwareVersion = binary.LittleEndian.Uint16(frame[6:8])
		m.OEMIANA = binary.LittleEndian.Uint32(frame[8:12])
		if len(frame) > startReplyLen {
			m.OEMData = append([]byte(nil), frame[startReplyLen:]...)
		}
		return m, nil
	case TypeEndRedirectionSession:
		return EndRedirectionSession{}, nil
	case TypeAuthenticateSession:
		return AuthenticateSession{Type: AuthType(frame[4]), Data: authData(frame)}, nil
	case TypeAuthenticateSessionReply:
		return AuthenticateSessionReply{Status: frame[1], Type: AuthType(frame[4]), Data: authData(frame)}, nil
	case TypeKVMStart:
		var m KVMStart
		copy(m.Payload[:], frame[1:8])
		return m, nil
	case TypeKVMStartReply:
		var m KVMStartReply
		copy(m.Payload[:], frame[1:8])
		return m, nil
	}
	return nil, protocolErrorf("unknown message type %#02x", frame[0])
}

func authData(frame []byte) []byte {
	if len(frame) == authHeaderLen {
		return nil
	}
	return append([]byte(nil), frame[authHeaderLen:]...)
}

package cira

import (
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

// fuzzLimit bounds one fuzz input's run: hostile bytes must never hang a link.
const fuzzLimit = 10 * time.Second

func cat(msgs ...apf.Message) []byte {
	var b []byte
	for _, m := range msgs {
		b = m.Marshal(b)
	}
	return b
}

// feed writes data into one end of a pipe whose other end the code under test serves, then
// closes it, and waits for served to close.
func feed(t *testing.T, peer net.Conn, data []byte, served <-chan struct{}) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(io.Discard, peer)
	}()
	go func() {
		defer wg.Done()
		_, _ = peer.Write(data)
		_ = peer.Close()
	}()
	select {
	case <-served:
	case <-time.After(fuzzLimit):
		buf := make([]byte, 1<<20)
		t.Fatalf("link did not end after its input did:\n%s", buf[:runtime.Stack(buf, true)])
	}
	_ = peer.Close()
	wg.Wait()
}

// drain reads a channel and echoes it until it fails.
func drain(ch net.Conn) {
	defer ch.Close()
	buf := make([]byte, 1024)
	for {
		n, err := ch.Read(buf)
		if n > 0 {
			if _, err := ch.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

var fuzzGUID = apf.GUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// FuzzServer feeds hostile device bytes to the MPS side, which also opens a channel to the
// device once it logs in: errors, never panics or hangs.
func FuzzServer(f *testing.F) {
	login := cat(
		&apf.ProtocolVersion{Major: 1, GUID: fuzzGUID},
		&apf.ServiceRequest{Service: apf.ServiceAuth},
		&apf.UserAuthRequest{User: "u", Service: apf.ServicePortForward, Password: "p"},
		&apf.ServiceRequest{Service: apf.ServicePortForward},
		&apf.GlobalRequest{Name: apf.TCPIPForward, WantReply: true, Port: 16994},
		&apf.GlobalRequest{Name: apf.TCPIPForward, WantReply: true, Port: 5900},
	)
	f.Add(login)
	f.Add(append(login, cat(
		&apf.ChannelOpenConfirmation{Recipient: 4, Sender: 9, Window: 100, MaxPacket: 7},
		&apf.ChannelData{Recipient: 4, Data: []byte("hello")},
		&apf.WindowAdjust{Recipient: 4, Bytes: 1000},
		&apf.KeepAliveRequest{Cookie: 3},
		&apf.KeepAliveOptionsReply{Interval: 30},
		&apf.GlobalRequest{Name: apf.CancelTCPIPForward, Port: 5900},
		&apf.ChannelOpen{ChannelType: apf.ForwardedTCPIP, Sender: 1, Window: 10, Port: 80},
		&apf.ChannelClose{Recipient: 4},
		&apf.Disconnect{Reason: 11},
	)...))
	f.Add(append(login, cat(&apf.ChannelOpenFailure{Recipient: 4, Reason: 2})...))
	f.Add(append(login, cat(&apf.ChannelOpenConfirmation{Recipient: 4, Sender: 9, Window: 1}, &apf.ChannelData{Recipient: 4, Data: make([]byte, 90000)})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var dials sync.WaitGroup
		var s *Server
		s = NewServer(ServerConfig{
			Authenticate: func(_ apf.GUID, user, password string) bool { return user == "u" && password == "p" },
			IdleTimeout:  fuzzLimit,
			OnConnect: func(g apf.GUID) {
				dials.Add(1)
				go func() {
					defer dials.Done()
					ch, err := s.Dial(context.Background(), g, 16994)
					if err == nil {
						go func() { _, _ = ch.Write(make([]byte, 200)) }()
						drain(ch)
					}
				}()
			},
		})
		mine, peer := net.Pipe()
		served := make(chan struct{})
		go func() {
			defer close(served)
			s.serveConn(context.Background(), mine)
		}()
		feed(t, peer, data, served)
		dials.Wait()
		_ = s.Close()
	})
}

// FuzzClient feeds hostile MPS bytes to the device side: errors, never panics or hangs.
func FuzzClient(f *testing.F) {
	login := cat(
		&apf.ServiceAccept{Service: apf.ServiceAuth},
		&apf.UserAuthSuccess{},
		&apf.ServiceAccept{Service: apf.ServicePortForward},
		&apf.RequestSuccess{Port: 16992},
		&apf.RequestSuccess{Port: 16994},
	)
	f.Add(login)
	f.Add(append(login, cat(
		&apf.KeepAliveOptionsRequest{Interval: 1},
		&apf.KeepAliveRequest{Cookie: 1},
		&apf.ChannelOpen{ChannelType: apf.ForwardedTCPIP, Sender: 4, Window: 10, MaxPacket: 3, Port: 16994, OriginAddr: "1.2.3.4", OriginPort: 1024},
		&apf.ChannelData{Recipient: 1, Data: []byte("\x10\x01\x00\x00KVMR")},
		&apf.WindowAdjust{Recipient: 1, Bytes: 50},
		&apf.ChannelOpen{ChannelType: apf.ForwardedTCPIP, Sender: 5, Window: 10, Port: 623},
		&apf.ChannelClose{Recipient: 1},
		&apf.ChannelOpenConfirmation{Recipient: 1},
		&apf.Disconnect{Reason: 2},
	)...))
	f.Add(cat(&apf.UserAuthFailure{Methods: apf.MethodPassword}))
	f.Add(append(login, cat(&apf.ChannelOpen{ChannelType: apf.ForwardedTCPIP, Sender: 4, Window: 10, Port: 16992}, &apf.ChannelData{Recipient: 1, Data: make([]byte, 40000)})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, peer := net.Pipe()
		c := NewClient(mine, ClientConfig{
			GUID: fuzzGUID, User: "u", Password: "p", Ports: []uint16{16992, 16994},
			Accept: func(_ uint16, ch net.Conn) { drain(ch) }, KeepAliveInterval: time.Hour, IdleTimeout: fuzzLimit,
		})
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = c.Run(context.Background())
		}()
		feed(t, peer, data, served)
	})
}

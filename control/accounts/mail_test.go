package accounts

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smtpSession is what the test server saw.
type smtpSession struct {
	auth, from, to, data string
}

// fakeSMTP serves one SMTP conversation on loopback: EHLO advertising AUTH PLAIN (net/smtp
// sends a password unencrypted only to localhost), MAIL, RCPT, DATA, QUIT.
func fakeSMTP(t *testing.T) (addr string, got <-chan smtpSession) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan smtpSession, 1)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r, w := bufio.NewReader(c), bufio.NewWriter(c)
		say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
		var s smtpSession
		say("220 localhost ESMTP test")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			verb, arg, _ := strings.Cut(line, " ")
			switch strings.ToUpper(verb) {
			case "EHLO":
				say("250-localhost\r\n250 AUTH PLAIN")
			case "AUTH":
				s.auth = arg
				say("235 ok")
			case "MAIL":
				s.from = arg
				say("250 ok")
			case "RCPT":
				s.to = arg
				say("250 ok")
			case "DATA":
				say("354 go on")
				var b strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					b.WriteString(l)
				}
				s.data = b.String()
				say("250 queued")
			case "QUIT":
				say("221 bye")
				ch <- s
				return
			default:
				say("502 no")
			}
		}
	}()
	return ln.Addr().String(), ch
}

func TestSMTPMailer(t *testing.T) {
	addr, got := fakeSMTP(t)
	_, port, _ := net.SplitHostPort(addr)
	m := SMTPMailer{Addr: "localhost:" + port, From: "relay@acme.test", Username: "relay", Password: "s3cret"}
	err := m.Send(context.Background(), "bob@acme.test", "Invitation to Acme\r\nBcc: evil@x.test", "Open:\nhttps://relay.test/console/#invite=kvmi_x\n")
	require.NoError(t, err)
	s := <-got
	cred, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.auth, "PLAIN "))
	require.NoError(t, err)
	assert.Equal(t, "\x00relay\x00s3cret", string(cred))
	assert.Equal(t, "FROM:<relay@acme.test>", s.from)
	assert.Equal(t, "TO:<bob@acme.test>", s.to)
	assert.Contains(t, s.data, "From: relay@acme.test\r\n")
	assert.Contains(t, s.data, "To: bob@acme.test\r\n")
	assert.Contains(t, s.data, "Subject: Invitation to AcmeBcc: evil@x.test\r\n", "no header injection through the subject")
	assert.NotContains(t, s.data, "\r\nBcc:")
	assert.Contains(t, s.data, "\r\n\r\nOpen:\r\nhttps://relay.test/console/#invite=kvmi_x\r\n")
}

func TestSMTPMailerRejects(t *testing.T) {
	m := SMTPMailer{Addr: "127.0.0.1:1", From: "relay@acme.test"}
	for _, to := range []string{"", "bob", "bob@acme.test\r\nRCPT TO:<eve@x.test>", "Bob <bob@acme.test>"} {
		assert.ErrorIs(t, m.Send(context.Background(), to, "s", "b"), ErrInvalid, "%q", to)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	assert.Error(t, m.Send(ctx, "bob@acme.test", "s", "b"), "nothing listens")
}

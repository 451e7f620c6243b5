package accounts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// Mailer sends one plain-text message.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SMTPMailer sends through an SMTP server with net/smtp: STARTTLS whenever the server offers
// it, then PLAIN authentication when Username is set (net/smtp refuses to send a password
// unencrypted to anything but localhost).
type SMTPMailer struct {
	Addr     string // host:port
	From     string // envelope and header sender
	Username string
	Password string
	// TLSConfig is used for STARTTLS; nil verifies the server against the system roots
	// under Addr's host name.
	TLSConfig *tls.Config
}

// smtpTimeout bounds a whole send when ctx has no earlier deadline.
const smtpTimeout = 30 * time.Second

// Send implements Mailer.
func (m SMTPMailer) Send(ctx context.Context, to, subject, body string) error {
	if _, err := mail.ParseAddress(to); err != nil || strings.ContainsAny(to, "\r\n<>") {
		return fmt.Errorf("smtp: recipient %q: %w", to, ErrInvalid)
	}
	if _, err := mail.ParseAddress(m.From); err != nil || strings.ContainsAny(m.From, "\r\n") {
		return fmt.Errorf("smtp: sender %q: %w", m.From, ErrInvalid)
	}
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: address %q: %w", m.Addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: dial %s: %w", m.Addr, err)
	}
	// net/smtp takes no context: the deadline covers the whole conversation, and closing the
	// connection on cancel unblocks it.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: greeting from %s: %w", m.Addr, err)
	}
	defer c.Close()
	if err := m.converse(c, host, to, message(m.From, to, subject, body)); err != nil {
		return fmt.Errorf("smtp: send to %s via %s: %w", to, m.Addr, err)
	}
	return nil
}

func (m SMTPMailer) converse(c *smtp.Client, host, to string, msg []byte) error {
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := m.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return err
		}
	}
	if m.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("server offers no AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(m.From); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message builds an RFC 5322 message. Header values lose any control characters (no header
// injection through a subject), the body's lines end in CRLF.
func message(from, to, subject, body string) []byte {
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + stripControls(v) + "\r\n") }
	hdr("From", from)
	hdr("To", to)
	hdr("Subject", encodeSubject(stripControls(subject)))
	hdr("Date", time.Now().UTC().Format(time.RFC1123Z))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// encodeSubject encodes a non-ASCII subject as RFC 2047 words (ASCII passes unchanged).
func encodeSubject(s string) string { return mime.QEncoding.Encode("utf-8", s) }

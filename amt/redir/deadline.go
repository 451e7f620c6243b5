package redir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// DefaultTimeout bounds a handshake whose context has no earlier deadline.
const DefaultTimeout = 30 * time.Second

type deadliner interface {
	SetDeadline(t time.Time) error
}

// watch makes blocking I/O on conn honour ctx and a timeout for the duration of a handshake.
// With SetDeadline (net.Conn) it sets the earlier of ctx's deadline and now+timeout, and an
// immediate deadline when ctx is cancelled; the returned stop clears it again so the caller
// can go on with RFB. Without SetDeadline but with Close, cancellation closes conn. Otherwise
// ctx is only checked between messages.
func watch(ctx context.Context, conn any, timeout time.Duration) (stop func()) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	switch c := conn.(type) {
	case deadliner:
		d := time.Now().Add(timeout)
		if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
			d = cd
		}
		_ = c.SetDeadline(d)
		done := make(chan struct{})
		stopAfter := context.AfterFunc(ctx, func() {
			defer close(done)
			_ = c.SetDeadline(time.Unix(1, 0)) // in the past: pending I/O fails now
		})
		return func() {
			if !stopAfter() {
				<-done // it ran (or is running): wait so that our reset comes last
			}
			_ = c.SetDeadline(time.Time{})
		}
	case io.Closer:
		stopAfter := context.AfterFunc(ctx, func() { _ = c.Close() })
		return func() { stopAfter() }
	}
	return func() {}
}

// ioError explains an I/O failure during a handshake: the context's error when it ended,
// a timeout in words, or err as is.
func ioError(ctx context.Context, what string, timeout time.Duration, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		return fmt.Errorf("%s: no answer within %s: %w", what, timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

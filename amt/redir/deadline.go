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

// watcher makes blocking I/O on a stream honour a context and a timeout during a handshake.
type watcher struct {
	ctx     context.Context
	timeout time.Duration
	// ctxDeadline: the stream's deadline is the context's, so a deadline error is the
	// context's even when the context's own timer has not fired yet.
	ctxDeadline bool
	stop        func()
}

// watch: with SetDeadline (net.Conn) it sets the earlier of ctx's deadline and now+timeout,
// and an immediate deadline when ctx is cancelled; stop clears it again so the caller can go
// on with RFB. Without SetDeadline but with Close, cancellation closes the stream. Otherwise
// ctx is only checked between messages.
func watch(ctx context.Context, conn any, timeout time.Duration) *watcher {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	w := &watcher{ctx: ctx, timeout: timeout, stop: func() {}}
	switch c := conn.(type) {
	case deadliner:
		d := time.Now().Add(timeout)
		if cd, ok := ctx.Deadline(); ok && !cd.After(d) {
			d = cd
			w.ctxDeadline = true
		}
		_ = c.SetDeadline(d)
		done := make(chan struct{})
		stopAfter := context.AfterFunc(ctx, func() {
			defer close(done)
			_ = c.SetDeadline(time.Unix(1, 0)) // in the past: pending I/O fails now
		})
		w.stop = func() {
			if !stopAfter() {
				<-done // it ran (or is running): wait so that our reset comes last
			}
			_ = c.SetDeadline(time.Time{})
		}
	case io.Closer:
		stopAfter := context.AfterFunc(ctx, func() { _ = c.Close() })
		w.stop = func() { stopAfter() }
	}
	return w
}

// ioError explains an I/O failure: the context's error when it ended (or its deadline is
// what expired), a timeout in words, or err as is.
func (w *watcher) ioError(what string, err error) error {
	if ctxErr := w.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if w.ctxDeadline {
			return fmt.Errorf("%s: %w", what, context.DeadlineExceeded)
		}
		return fmt.Errorf("%s: no answer within %s: %w", what, w.timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

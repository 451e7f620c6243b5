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

// watcher makes blocking I/O on a stream honour the caller's context and a timeout for the
// duration of a handshake.
type watcher struct {
	parent  context.Context
	ctx     context.Context // parent with the timeout
	cancel  context.CancelFunc
	timeout time.Duration
	stop    func()
}

// watch: with SetDeadline (net.Conn) the stream gets the deadline of parent-with-timeout,
// and an immediate one when that ends early; stop clears it again so the caller can go on
// with RFB (a deadline the caller had set is cleared too). Without SetDeadline but with
// Close, the stream is closed when the context or the timeout ends. Otherwise they are only
// checked between messages.
func watch(parent context.Context, conn any, timeout time.Duration) *watcher {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	w := &watcher{parent: parent, ctx: ctx, cancel: cancel, timeout: timeout}
	switch c := conn.(type) {
	case deadliner:
		d, _ := ctx.Deadline()
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
			cancel()
		}
	case io.Closer:
		stopAfter := context.AfterFunc(ctx, func() { _ = c.Close() })
		w.stop = func() { stopAfter(); cancel() }
	default:
		w.stop = cancel
	}
	return w
}

// check is the between-messages test of the context and timeout.
func (w *watcher) check(what string) error {
	if w.ctx.Err() == nil {
		return nil
	}
	return w.ioError(what, os.ErrDeadlineExceeded)
}

// ioError explains an I/O failure: the caller's context error when it ended or its deadline
// is the one that passed, the timeout in words when that passed, or err as is.
func (w *watcher) ioError(what string, err error) error {
	if pErr := w.parent.Err(); pErr != nil {
		return fmt.Errorf("%s: %w", what, pErr)
	}
	if w.ctx.Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Our deadline passed; it is the caller's when the caller's is not later than the
	// timeout's (its own timer may simply not have fired yet).
	ours, _ := w.ctx.Deadline()
	if pd, ok := w.parent.Deadline(); ok && !pd.After(ours) {
		return fmt.Errorf("%s: %w", what, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s: no answer within %s: %w", what, w.timeout, os.ErrDeadlineExceeded)
}

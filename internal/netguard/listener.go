package netguard

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// Backoff after a failed accept, as net/http's Server: 5 ms doubling up to 1 s.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
	// shedWait bounds the accept of a connection that is only taken to be closed.
	shedWait = 50 * time.Millisecond
	// logEvery limits accept-failure logs during a flood.
	logEvery = 10 * time.Second
)

// listener is one guarded net.Listener.
type listener struct {
	net.Listener
	g    *Guard
	name string

	done      chan struct{}
	closeOnce sync.Once

	lastLog    time.Time // accept goroutine only
	suppressed int
}

// Listener guards ln under name ("http", "turn-tcp"…, the metrics' listener label). Its
// Accept returns only *Conn, and no error but the one of a closed listener.
func (g *Guard) Listener(name string, ln net.Listener) net.Listener {
	return &listener{Listener: ln, g: g, name: name, done: make(chan struct{})}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Accept waits for a connection the guard admits. Failures other than a closed listener are
// retried after a backoff: a server's accept loop ends on any error it returns.
func (l *listener) Accept() (net.Conn, error) {
	backoff := time.Duration(0)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.closed() {
				return nil, net.ErrClosed
			}
			l.g.metrics.acceptFailed(l.name)
			if exhausted(err) && l.makeRoom() {
				// A descriptor was freed for the pending connection: take it now.
				continue
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			l.logFailure(err, backoff)
			if !l.sleep(backoff) {
				return nil, net.ErrClosed
			}
			continue
		}
		backoff = 0
		gc := newConn(l, c)
		evicted, why := l.g.admit(gc)
		if why != "" {
			l.g.metrics.refused(l.name, why)
			_ = c.Close()
			continue
		}
		if evicted != nil {
			l.g.closeEvicted(evicted)
		}
		gc.startIdleTimer(l.g.cfg.FirstByteTimeout)
		return gc, nil
	}
}

// makeRoom frees a descriptor while the process has none: it evicts the oldest unproven
// connection, or else accepts the pending one with the spare descriptor and closes it (the
// client learns at once, the backlog moves). It reports whether a retry may succeed now.
func (l *listener) makeRoom() bool {
	if l.g.evictOne() {
		return true
	}
	l.g.shed(func() error {
		if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok {
			_ = d.SetDeadline(time.Now().Add(shedWait))
			defer func() { _ = d.SetDeadline(time.Time{}) }()
		}
		c, err := l.Listener.Accept()
		if err != nil {
			return err
		}
		l.g.metrics.refused(l.name, refusedDescriptors)
		return c.Close()
	})
	return false
}

func (l *listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// sleep waits d or until the listener closes; false means closed.
func (l *listener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.done:
		return false
	case <-t.C:
		return true
	}
}

func (l *listener) logFailure(err error, backoff time.Duration) {
	now := time.Now()
	if now.Sub(l.lastLog) < logEvery {
		l.suppressed++
		return
	}
	l.g.log.Warn("accept failed; retrying", "listener", l.name, "err", err, "retry_in", backoff,
		"failures_not_logged", l.suppressed, "open", l.g.Open(), "budget", l.g.cfg.Budget)
	l.lastLog, l.suppressed = now, 0
}

// exhausted reports whether err says the process or the system is out of descriptors.
func exhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

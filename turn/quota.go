package turn

import (
	"errors"
	"sync"
)

// ErrQuota is returned when an allocation would exceed a quota.
var ErrQuota = errors.New("turn: allocation quota reached")

// quota counts open allocations per user and in total.
//
// pion offers a QuotaHandler that answers 486 but only asks "may this user allocate?"; it
// gives no hook to release, and requests from different TCP connections are handled
// concurrently, so a check there alone can overshoot. Here the count is taken when the relay
// socket is opened (the RelayAddressGenerator, atomically with the check) and given back
// when that socket is closed, whatever closed it (expiry, Refresh 0, TCP close, Close). The
// QuotaHandler (full) only looks, so the normal refusal is a proper 486; losing a race ends
// in pion's 508 instead.
type quota struct {
	perUser, total int

	mu     sync.Mutex
	used   int
	byUser map[string]int
}

func newQuota(perUser, total int) *quota {
	return &quota{perUser: perUser, total: total, byUser: make(map[string]int)}
}

// full reports whether user may not open another allocation.
func (q *quota) full(user string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used >= q.total || q.byUser[user] >= q.perUser
}

// acquire takes one allocation for user and returns its release (idempotent). The empty
// user is pion probing for an even port (a socket opened and closed at once): not counted.
func (q *quota) acquire(user string) (release func(), err error) {
	if user == "" {
		return func() {}, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used >= q.total || q.byUser[user] >= q.perUser {
		return nil, ErrQuota
	}
	q.used++
	q.byUser[user]++
	var once sync.Once
	return func() { once.Do(func() { q.release(user) }) }, nil
}

func (q *quota) release(user string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used--
	if q.byUser[user]--; q.byUser[user] <= 0 {
		delete(q.byUser, user)
	}
}

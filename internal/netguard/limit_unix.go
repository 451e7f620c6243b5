//go:build unix

package netguard

import "syscall"

// descriptorLimit is the soft RLIMIT_NOFILE (Go raises it to the hard limit at start).
func descriptorLimit() (int, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	const maxInt = int(^uint(0) >> 1)
	if r.Cur > uint64(maxInt) {
		return maxInt, nil
	}
	return int(r.Cur), nil
}

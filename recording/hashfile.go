package recording

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"os"
)

// hashFile is a file being written from its start, with its SHA-256 and size kept as it
// goes: the summary's digest is of the bytes written, never of a re-read. Its first error
// sticks: a recording with a hole is not continued.
type hashFile struct {
	path string
	f    *os.File
	sum  hash.Hash
	size int64
	err  error
}

// createHashFile creates path, refusing to replace a file already there (a recording's id
// is used once).
func createHashFile(path string) (*hashFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, storageError("create", path, err)
	}
	return &hashFile{path: path, f: f, sum: sha256.New()}, nil
}

// Write writes b whole or fails.
func (h *hashFile) Write(b []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.f.Write(b)
	h.sum.Write(b[:n])
	h.size += int64(n)
	if err != nil {
		h.err = storageError("write", h.path, err)
		return n, h.err
	}
	return n, nil
}

// Sync makes what was written survive a crash of the host.
func (h *hashFile) Sync() error {
	if h.err != nil {
		return h.err
	}
	if err := h.f.Sync(); err != nil {
		h.err = storageError("sync", h.path, err)
	}
	return h.err
}

// Close syncs and closes the file and returns its digest (hex).
func (h *hashFile) Close() (digest string, err error) {
	syncErr := h.Sync()
	if cerr := h.f.Close(); cerr != nil && syncErr == nil {
		syncErr = storageError("close", h.path, cerr)
	}
	return hex.EncodeToString(h.sum.Sum(nil)), syncErr
}

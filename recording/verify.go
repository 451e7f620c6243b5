package recording

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Verify re-reads the file at path and compares its SHA-256 with wantSHA256 (hex, from the
// audit chain): nil when they match, an error wrapping ErrTampered when they do not, or the
// error that kept the file from being read (a missing file wraps fs.ErrNotExist: the caller
// says whether a swept recording is expected).
func Verify(path, wantSHA256 string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("recording: verify: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("recording: verify: read %s: %w", path, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, strings.TrimSpace(wantSHA256)) {
		return fmt.Errorf("%w: %s has SHA-256 %s, the recording's is %.64s", ErrTampered, path, got, wantSHA256)
	}
	return nil
}

package enroll

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Names of the files in the state directory.
const (
	KeyFile  = "agent.key"
	CertFile = "agent.crt"
	CAFile   = "ca.crt"
)

// writeAtomic replaces dir/name with data: a 0600 temporary file in the same directory is
// written and synced, then renamed over the old one, so a reader (or a crash) sees either the
// old file or the new one, never a mix.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+"-*.tmp") // O_EXCL, mode 0600
	if err != nil {
		return fmt.Errorf("enroll: write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		return fmt.Errorf("enroll: write %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("enroll: sync state dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("enroll: sync state dir: %w", err)
	}
	return nil
}

// readState reads the three files; ErrNotEnrolled when the certificate is missing.
func readState(dir string) (keyPEM, certPEM, caPEM []byte, err error) {
	read := func(name string) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) && name == CertFile {
			err = ErrNotEnrolled
		} else if err != nil {
			err = fmt.Errorf("%w: %s: %w", ErrBadState, name, err)
		}
		return b
	}
	certPEM = read(CertFile)
	keyPEM = read(KeyFile)
	caPEM = read(CAFile)
	return keyPEM, certPEM, caPEM, err
}

package ca

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyStore persists the root certificate and key as one PEM bundle. Save must be
// create-only: when a bundle exists it returns ErrExists, so two relay processes starting at
// once agree on one root (the loser loads the winner's). Load returns ErrNotFound when empty.
type KeyStore interface {
	Load(ctx context.Context) ([]byte, error)
	Save(ctx context.Context, bundle []byte) error
}

// FileKeyStore keeps the bundle in Dir/ca.pem, mode 0600, in a 0700 directory.
type FileKeyStore struct {
	Dir string
}

const bundleName = "ca.pem"

// Load reads the bundle.
func (s FileKeyStore) Load(_ context.Context) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, bundleName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ca: read root: %w", err)
	}
	return b, nil
}

// Save writes the bundle to a fresh temporary file (O_EXCL, 0600), syncs it, then links it
// into place. link(2) fails when the name exists, so creation is exclusive and a crash never
// leaves a half-written ca.pem behind.
func (s FileKeyStore) Save(_ context.Context, bundle []byte) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("ca: data dir: %w", err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".ca-*.tmp") // O_EXCL, mode 0600
	if err != nil {
		return fmt.Errorf("ca: create root file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeSync(tmp, bundle); err != nil {
		return fmt.Errorf("ca: write root: %w", err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(s.Dir, bundleName)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return fmt.Errorf("ca: publish root: %w", err)
	}
	return syncDir(s.Dir)
}

func writeSync(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ca: sync data dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ca: sync data dir: %w", err)
	}
	return nil
}

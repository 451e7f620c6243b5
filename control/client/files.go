package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names inside the config directory.
const (
	SettingsFile    = "config.json"
	CredentialsFile = "credentials.json"
	// WitnessFile holds the audit chain heads kvmctl audit verify saw, per server and
	// organization, so the next verification can tell whether the chain still holds them.
	WitnessFile = "audit-witness.json"
	lockFile    = ".lock"
)

// Settings is config.json: what kvmctl remembers between runs (nothing secret).
type Settings struct {
	Server string `json:"server,omitempty"`
	Org    string `json:"org,omitempty"`
	Email  string `json:"email,omitempty"`
	// DeviceToken is what the server's last login of Email answered as device_token: shown at
	// the next login, it tells the server this is a client the user signed in from before, so
	// a flood of wrong passwords at the account from elsewhere does not slow kvmctl down. It
	// outlives logout (it vouches for the machine, not a session); mode 0600 like the rest.
	DeviceToken string `json:"device_token,omitempty"`
}

// Credentials is credentials.json (mode 0600): a login's tokens, or an API key, and the server
// they were issued by.
type Credentials struct {
	Server           string    `json:"server"`
	AccessToken      string    `json:"access_token,omitempty"`
	AccessExpiresAt  time.Time `json:"access_expires_at,omitzero"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at,omitzero"`
	APIKey           string    `json:"api_key,omitempty"`
}

// ConfigDir is kvmctl's config directory for an environment: $XDG_CONFIG_HOME/kvmctl when that
// is an absolute path, else $HOME/.config/kvmctl.
func ConfigDir(getenv func(string) string) (string, error) {
	if x := getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "kvmctl"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("client: config directory: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".config", "kvmctl"), nil
}

// readJSON reads path into v; a missing file leaves v as it is and returns false.
func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("client: read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("client: %s is not valid JSON (delete it and log in again): %w", path, err)
	}
	return true, nil
}

// writeJSON replaces path atomically (a temporary file in the same directory, synced, renamed)
// with mode perm; the directory is created 0700.
func writeJSON(path string, v any, perm fs.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encode %s: %w", path, err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client: create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("client: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("client: write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("client: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("client: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("client: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("client: write %s: %w", path, err)
	}
	return nil
}

func (c *Client) settingsPath() string    { return filepath.Join(c.dir, SettingsFile) }
func (c *Client) credentialsPath() string { return filepath.Join(c.dir, CredentialsFile) }
func (c *Client) witnessPath() string     { return filepath.Join(c.dir, WitnessFile) }

// loadCredentials reads credentials.json; ok is false when there is none for this server.
func (c *Client) loadCredentials() (Credentials, bool, error) {
	var cr Credentials
	found, err := readJSON(c.credentialsPath(), &cr)
	if err != nil || !found || cr.Server != c.server {
		return Credentials{}, false, err
	}
	return cr, true, nil
}

func (c *Client) saveCredentials(cr Credentials) error {
	return writeJSON(c.credentialsPath(), cr, 0o600)
}

// lockDir takes the config directory's exclusive lock (held across a token refresh so two
// kvmctl processes never both present the same refresh token). Waiting for it ends with ctx.
func (c *Client) lockDir(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("client: create %s: %w", c.dir, err)
	}
	return lockFileExclusive(ctx, filepath.Join(c.dir, lockFile))
}

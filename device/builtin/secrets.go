package builtin

import (
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/amt"
)

// SecretFlags are the flags that point sources at secrets and trust kept in files, so that
// no password is ever on a command line: the MPS and AMT passwords of amt sources, and the CA
// of an MPS with a private certificate.
type SecretFlags struct {
	MPSPasswordFile string
	AMTPasswordFile string
	MPSCA           string
}

// RegisterSecretFlags adds --mps-password-file, --amt-password-file and --mps-ca to fs.
func RegisterSecretFlags(fs *flag.FlagSet) *SecretFlags {
	f := &SecretFlags{}
	fs.StringVar(&f.MPSPasswordFile, "mps-password-file", "", "file holding the MPS password of an amt+mps source (or set "+amt.MPSPasswordEnv+")")
	fs.StringVar(&f.AMTPasswordFile, "amt-password-file", "", "file holding the AMT password of an amt:// source (or set "+amt.AMTPasswordEnv+")")
	fs.StringVar(&f.MPSCA, "mps-ca", "", "PEM file of the CA that signed the MPS's HTTPS certificate (default: system roots)")
	return f
}

// Apply fills opts.Lookup (the environment, then the files named) and opts.TLSRoots.
func (f *SecretFlags) Apply(opts *device.Options) error {
	files := map[string]string{}
	for env, path := range map[string]string{amt.MPSPasswordEnv: f.MPSPasswordFile, amt.AMTPasswordEnv: f.AMTPasswordFile} {
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("password file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return fmt.Errorf("password file %s is empty", path)
		}
		files[env] = pw
	}
	env := opts.Lookup
	if env == nil {
		env = os.LookupEnv
	}
	opts.Lookup = func(name string) (string, bool) {
		if v, ok := files[name]; ok {
			return v, true
		}
		return env(name)
	}
	if f.MPSCA != "" {
		b, err := os.ReadFile(f.MPSCA)
		if err != nil {
			return fmt.Errorf("--mps-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("--mps-ca %s: no PEM certificate in it", f.MPSCA)
		}
		opts.TLSRoots = pool
	}
	return nil
}

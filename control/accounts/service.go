package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// Config configures a Service. Store and Issuer are required; zero values take the defaults.
type Config struct {
	Store  store.Store
	Issuer *auth.Issuer
	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()

	AccessTTL  time.Duration // access JWT lifetime; default 15 min
	RefreshTTL time.Duration // refresh token lifetime, renewed on each rotation; default 7 days
	InviteTTL  time.Duration // invitation lifetime; default 7 days
	ResetTTL   time.Duration // password reset link lifetime; default 1 h
	// RefreshGrace is how long after a rotation the rotated refresh token may be presented
	// again, from the same client address, and get the same successor (two browser tabs
	// refreshing at once); default 10 s, negative turns it off. See rotations.
	RefreshGrace time.Duration

	// SecretKey (32 bytes) encrypts TOTP secrets at rest (AES-256-GCM). Every node of a
	// deployment needs the same key. Without one, secrets are stored as they are (tests,
	// and databases from before encryption); encrypted values then cannot be read.
	SecretKey []byte

	// OIDC, when set, also accepts access tokens from an external issuer.
	OIDC *OIDCConfig
	// Mailer sends invitations; nil returns the invitation link to the inviter instead.
	Mailer Mailer
	// PublicURL is the relay's external base URL; invitation links start with it.
	PublicURL string
	// TOTPIssuer names the service in authenticator apps; default "kvmrelay".
	TOTPIssuer string

	// Argon2 are the password hashing costs; zero means DefaultArgon2Params.
	Argon2 Argon2Params
	// MaxConcurrentHashes bounds argon2 runs at once (each holds Argon2.Memory KiB);
	// default GOMAXPROCS.
	MaxConcurrentHashes int
	// MaxQueuedHashes bounds the real accounts' hashing waiting for a slot; past it a login
	// is refused with ErrBusy (retry in a second). Default 8 × MaxConcurrentHashes. Dummy
	// hashing for unknown accounts never queues (see hasher).
	MaxQueuedHashes int
	Limits          Limits
	// FreeFailures is how many consecutive failed logins a client (address or device token)
	// has at an account before each further attempt from it must wait: 1 s after the next
	// failure, doubling up to MaxFailureDelay. Defaults 3 and 15 min.
	FreeFailures    int
	MaxFailureDelay time.Duration
	// MaxAccountDelay caps how long the account's own failures (from any address) make an
	// untrusted client wait: the account slows down, it does not lock (see throttle.go).
	// Default 5 s.
	MaxAccountDelay time.Duration
	// KnownAddressTTL is how long a client address that signed in to an account stays trusted
	// by it (per node, in memory); default 30 days.
	KnownAddressTTL time.Duration
}

// Service is the identity service. It is safe for concurrent use; Close stops the OIDC key
// cache's goroutines.
type Service struct {
	cfg    Config
	store  store.Store
	issuer *auth.Issuer
	now    func() time.Time
	log    *slog.Logger
	hasher *hasher
	dummy  func() string // a hash to verify against when the user is unknown
	guard  *stepGuard
	oidc   *oidcVerifier

	loginAddr, loginAccount     *keyedLimiter
	refreshAddr, refreshAccount *keyedLimiter
	mfaAccount                  *keyedLimiter
	passwordAccount             *keyedLimiter
	resetAddr                   *keyedLimiter
	unknownAudit                *keyedLimiter
	// See throttle.go.
	clientFailures, accountFailures *failureTracker
	knownAddrs                      *knownSet

	sealer *sealer    // nil without a SecretKey
	rot    *rotations // recent refresh rotations, for the grace window
}

// New makes a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Issuer == nil {
		return nil, errors.New("accounts: a store and a token issuer are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.AccessTTL, 15*time.Minute)
	def(&cfg.RefreshTTL, 7*24*time.Hour)
	def(&cfg.InviteTTL, 7*24*time.Hour)
	def(&cfg.ResetTTL, time.Hour)
	if cfg.RefreshGrace == 0 {
		cfg.RefreshGrace = 10 * time.Second
	}
	def(&cfg.MaxFailureDelay, 15*time.Minute)
	def(&cfg.MaxAccountDelay, 5*time.Second)
	def(&cfg.KnownAddressTTL, 30*24*time.Hour)
	if cfg.FreeFailures <= 0 {
		cfg.FreeFailures = 3
	}
	if cfg.TOTPIssuer == "" {
		cfg.TOTPIssuer = "kvmrelay"
	}
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2Params()
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxQueuedHashes <= 0 {
		cfg.MaxQueuedHashes = 8 * cfg.MaxConcurrentHashes
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	cfg.Limits = cfg.Limits.withDefaults()
	h, err := newHasher(cfg.Argon2, cfg.MaxConcurrentHashes, cfg.MaxQueuedHashes)
	if err != nil {
		return nil, err
	}
	var seal *sealer
	if cfg.SecretKey != nil {
		if seal, err = newSealer(cfg.SecretKey); err != nil {
			return nil, err
		}
	}
	s := &Service{
		cfg:            cfg,
		store:          cfg.Store,
		issuer:         cfg.Issuer,
		now:            cfg.Now,
		log:            cfg.Logger,
		hasher:         h,
		guard:          newStepGuard(cfg.Limits.MaxKeys),
		loginAddr:      newKeyedLimiter(cfg.Limits.LoginPerAddr, cfg.Limits.MaxKeys),
		loginAccount:   newKeyedLimiter(cfg.Limits.LoginPerAccount, cfg.Limits.MaxKeys),
		refreshAddr:    newKeyedLimiter(cfg.Limits.RefreshPerAddr, cfg.Limits.MaxKeys),
		refreshAccount: newKeyedLimiter(cfg.Limits.RefreshPerAccount, cfg.Limits.MaxKeys),
		mfaAccount:     newKeyedLimiter(cfg.Limits.MFAPerAccount, cfg.Limits.MaxKeys),
		// Changing a password checks the current one: as slow to guess as a login.
		passwordAccount: newKeyedLimiter(cfg.Limits.LoginPerAccount, cfg.Limits.MaxKeys),
		resetAddr:       newKeyedLimiter(cfg.Limits.TokenPerAddr, cfg.Limits.MaxKeys),
		unknownAudit:    newKeyedLimiter(cfg.Limits.UnknownUserAudit, cfg.Limits.MaxKeys),
		clientFailures:  newFailureTracker(cfg.Limits.MaxKeys),
		accountFailures: newFailureTracker(cfg.Limits.MaxKeys),
		knownAddrs:      newKnownSet(cfg.Limits.MaxKeys, cfg.KnownAddressTTL),
		sealer:          seal,
		rot:             newRotations(cfg.RefreshGrace, cfg.Limits.MaxKeys),
	}
	s.dummy = sync.OnceValue(func() string {
		// A hash of random bytes with the service's own parameters: verifying against it
		// costs what verifying a real user's hash costs.
		enc, err := h.hash(context.Background(), b64url.EncodeToString(randomBytes(24)))
		if err != nil {
			return encodePHC(cfg.Argon2, randomBytes(int(cfg.Argon2.SaltLen)), randomBytes(int(cfg.Argon2.KeyLen)))
		}
		return enc
	})
	if cfg.OIDC != nil {
		if s.oidc, err = newOIDCVerifier(*cfg.OIDC, cfg.Now, cfg.Logger); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Close stops background work (the OIDC key cache).
func (s *Service) Close(ctx context.Context) error {
	if s.oidc != nil {
		return s.oidc.close(ctx)
	}
	return nil
}

// CreateOwner bootstraps an organization and its first owner (`kvmrelay admin create`).
func (s *Service) CreateOwner(ctx context.Context, orgName, orgSlug, email, password string) (store.Organization, store.User, error) {
	orgName = strings.TrimSpace(orgName)
	orgSlug = strings.ToLower(strings.TrimSpace(orgSlug))
	email = normalizeEmail(email)
	switch {
	case orgName == "" || len(orgName) > 200 || hasControl(orgName):
		return store.Organization{}, store.User{}, fmt.Errorf("%w: organization name must be 1-200 printable bytes", ErrInvalid)
	case !store.ValidSlug(orgSlug):
		return store.Organization{}, store.User{}, fmt.Errorf("%w: organization slug %q (want 1-63 of a-z, 0-9 and -)", ErrInvalid, orgSlug)
	}
	if err := validEmail(email); err != nil {
		return store.Organization{}, store.User{}, err
	}
	if err := checkPassword(password); err != nil {
		return store.Organization{}, store.User{}, err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return store.Organization{}, store.User{}, err
	}
	now := s.now()
	org, err := s.store.CreateOrganization(ctx, store.Organization{Name: orgName, Slug: orgSlug, CreatedAt: now})
	if err != nil {
		return store.Organization{}, store.User{}, storeErr("create organization", err)
	}
	var u store.User
	err = s.store.Write(ctx, org.ID, func(tx store.Tx) error {
		var err error
		u, err = tx.CreateUser(ctx, store.User{Email: email, PasswordHash: hash, Role: store.RoleOwner, CreatedAt: now})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Actor: "system", Action: store.AuditRoleChange, Target: "user:" + u.ID,
			Details: map[string]string{"event": "bootstrap_owner", "email": email, "to": string(store.RoleOwner)},
		})
	})
	if err != nil {
		return org, store.User{}, storeErr("create owner", err)
	}
	s.log.Info("organization created", "org", org.ID, "slug", org.Slug, "owner", u.ID)
	return org, u, nil
}

// audit appends rec inside tx, stamped now.
func (s *Service) audit(ctx context.Context, tx store.Tx, rec store.AuditRecord) error {
	if rec.Time.IsZero() {
		rec.Time = s.now()
	}
	if _, err := tx.AppendAudit(ctx, rec); err != nil {
		return fmt.Errorf("audit %s: %w", rec.Action, err)
	}
	return nil
}

// storeErr maps the store's sentinels to this package's and wraps with what was being done.
func storeErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("accounts: %s: %w: %w", what, ErrNotFound, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("accounts: %s: %w: %w", what, ErrConflict, err)
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("accounts: %s: %w: %w", what, ErrInvalid, err)
	}
	return fmt.Errorf("accounts: %s: %w", what, err)
}

// normalizeEmail is how every email is compared and stored: trimmed and lower-cased.
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// validEmail accepts a bare address (no display name) of at most 254 bytes.
func validEmail(e string) error {
	if len(e) == 0 || len(e) > 254 || hasControl(e) || strings.ContainsAny(e, " <>\"") || strings.Count(e, "@") != 1 {
		return fmt.Errorf("%w: email %q", ErrInvalid, e)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return fmt.Errorf("%w: email %q", ErrInvalid, e)
	}
	return nil
}

// hasControl reports text that may not be stored: invalid UTF-8, or a control, format (bidi
// override, zero-width) or separator character — the one rule device names and agent text
// follow too (internal/safetext).
func hasControl(s string) bool {
	_, bad := safetext.First(s)
	return bad
}

// maxLabels bounds a scope; label keys and values are bounded as Kubernetes bounds them.
const maxLabels = 64

func validScope(scope map[string]string) error {
	if len(scope) > maxLabels {
		return fmt.Errorf("%w: scope has %d labels, at most %d", ErrInvalid, len(scope), maxLabels)
	}
	for k, v := range scope {
		if k == "" || len(k) > 63 || len(v) > 255 || hasControl(k) || hasControl(v) {
			return fmt.Errorf("%w: scope label %q=%q", ErrInvalid, k, v)
		}
	}
	return nil
}

// scopeString renders a scope for audit details: k=v pairs, sorted, comma-separated.
func scopeString(scope map[string]string) string {
	pairs := make([]string, 0, len(scope))
	for k, v := range scope {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

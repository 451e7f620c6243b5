// Command kvmctl is the command line of a kvmrelay control plane: log in, manage devices and
// their enrollment, start and stop consoles, invite users, manage API keys, and read and verify
// the audit chain. `kvmctl --help` lists the commands and the exit codes.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `kvmctl drives a kvmrelay control plane: devices, consoles, users, API keys, audit, recordings.

Usage: kvmctl [global flags] COMMAND [flags] [ARGS]

Commands:
  login [--org ORG] [--email EMAIL]      log in: password (never echoed), then a TOTP or
                                         recovery code when the server asks; with --api-key
                                         or KVMCTL_API_KEY set, check and store that key
  logout                                 revoke the stored login and forget it
  whoami                                 who the credentials are: organization, role, scope
  password change [--password-stdin]     change your password (never echoed); your other
                                         sessions end, this login goes on
  password reset --token TOKEN|LINK [--password-stdin]
                                         set a new password with the reset link an admin sent
  devices list                           devices with kind, presence and labels
  devices create NAME [--label k=v]...   create a device (then mint its enrollment token)
      [--gateway [--amt-tag TAG]...]     ... a gateway: one kvmagent serving Intel AMT
                                         machines through MPS (enrolled like any agent);
                                         each machine it reports with one of the MPS tags
                                         gets its device (labelled mps-tag=TAG)
      [--amt-gateway GW --amt-guid GUID] ... an AMT machine gateway GW (id or name) serves;
                                         it has no agent or enrollment token of its own
  devices rename DEVICE NEW-NAME         rename a device (names are unique ignoring case)
  devices relabel DEVICE [--label k=v]...
                                         replace a device's labels (they decide who reaches it)
  devices retag GATEWAY [--amt-tag TAG]...
                                         replace a gateway's MPS tags (none: it adopts no more)
  devices revoke DEVICE                  revoke a device: its agent is cut off at once
  devices delete DEVICE                  delete a revoked device (revoke it first); its audit
                                         entries stay
  devices enroll-token DEVICE [--state-dir DIR]
                                         a one-time token and the kvmagent enroll command
  console start DEVICE                   start a console; prints its URL and expiry
  console stop DEVICE                    stop the device's live console sessions
  console get DEVICE [--all]             desired and current state of the newest session
  console consent DEVICE CODE            enter the 6-digit consent code the machine (Intel AMT)
                                         shows on its screen
  console consent-cancel DEVICE          withdraw the consent request; the session ends
  console share SESSION [--guest [--ttl 1h]]
                                         share a running console: prints a link members open
                                         after signing in, or with --guest a view-only link for
                                         someone without an account (5m to 24h; the organization
                                         must allow guest links); shown once
  console shares SESSION                 the session's share links: kind, state, viewers joined
  console unshare SESSION SHARE_ID       revoke a share link: its viewers' consoles end at once
  users list                             the organization's users
  users invite EMAIL --role ROLE [--scope k=v]...
                                         invite by email (the link is printed when not mailed)
  users reset-password USER              a one-time password reset link (mailed, or printed)
  users disable USER                     disable a user: sessions and consoles end at once
  users enable USER                      enable a disabled user
  users reset-mfa USER                   turn off a user's second factor (lost authenticator)
  apikeys list                           API keys (never their secrets)
  apikeys create NAME --role ROLE [--scope k=v]...
                                         create an API key; the key is printed this once
  apikeys revoke ID                      revoke an API key
  audit list [--after SEQ] [--limit N]   one page of the audit chain (-o table|json|jsonl)
  audit verify [--no-witness]            walk the audit chain; exit 7 names the first broken row,
                                         or says the chain no longer holds the entry this
                                         kvmctl verified last time (kept per server and
                                         organization in audit-witness.json)
  audit export [--after SEQ]             the whole chain from SEQ on, as JSON lines
  mfa enable [--qr-invert]               turn on sign-in with TOTP: shows the key as a QR code
                                         and an otpauth:// URI, asks for a code to confirm,
                                         then prints the recovery codes (shown once)
  mfa disable [--code CODE]              turn it off with a current code or a recovery code
  mfa recovery-codes [--code CODE]       new recovery codes for a current code (shown once;
                                         the old ones stop working)
  org show                               the organization's settings
  org set --require-mfa true|false       owners: require MFA of every member (your own first);
                                         members without it can then only enroll it
  org set --guest-links on|off           owners: let console participants create view-only guest
                                         links; off ends every guest's console
  org set --recording off|on|required    owners: record console sessions (required: a session
                                         whose recording cannot be written does not start)
      [--recording-keys on|off]          ... keep every key typed in recordings (audited)
      [--recording-retention 30d]        ... how long recordings are kept (1d to 3650d)
  recordings list [--device DEVICE] [--session SESSION]
                                         recorded sessions: device, participants, duration,
                                         size, state (auditor, admin, owner)
  recordings get ID                      one recording, with its SHA-256s and participants
  recordings verify ID                   check the files against the SHA-256 the audit chain
                                         recorded when it closed; exit 7 names what differs
  recordings export ID FILE              download the video (MP4; FILE - for stdout); audited

USER is a user id or email. DEVICE is a device id or a device name (a name more than one device carries is refused with
the candidates listed). Listing commands take -o table (default) or -o json. Roles: owner,
admin, operator, viewer, auditor. A scope (--scope k=v) limits a role to devices with those
labels. Run kvmctl COMMAND --help for a command's flags.

Global flags (before or after the command):
  --server URL       the relay, e.g. https://relay.example.com (env KVMCTL_SERVER;
                     remembered in config.json after login)
  --api-key KEY      authenticate with an API key instead of the stored login (env
                     KVMCTL_API_KEY, better: the command line is visible to other users)
  --config-dir DIR   where config.json and credentials.json live (env KVMCTL_CONFIG_DIR;
                     default $XDG_CONFIG_HOME/kvmctl, else ~/.config/kvmctl)
  --allow-http       permit a plain http:// server off loopback (tokens would travel in clear)
  --timeout DURATION time limit of each request (default 60s)

Codes are asked for without echo, or read one a line from standard input when it is a pipe.
When your organization requires MFA and you have none, a login can only run kvmctl mfa enable.

Exit codes:
  0  ok
  1  error (including an ambiguous device name)
  2  usage: a wrong command, flag or argument, or no server known
  3  unauthorized or forbidden: not logged in, session ended, second factor needed, or the
     role may not do this
  4  not found
  5  conflict (for example a name already in use)
  6  server unreachable (no answer, or a proxy saying the relay is down)
  7  audit chain broken, or a recording that does not verify
  8  rate limited (the message says when to retry)
`

// app is one kvmctl run: its streams, environment and global flags.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
	in     *bufio.Reader // stdin, buffered once for every line read

	g globals
}

type globals struct {
	server    string
	apiKey    string
	configDir string
	allowHTTP bool
	timeout   time.Duration
}

// run is kvmctl: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
	err := withEnrollHint(a.main(ctx, args))
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return client.ExitOK
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		fmt.Fprintln(stderr, "kvmctl: interrupted")
		return client.ExitError
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "kvmctl: %s\n", client.Sanitize(line))
	}
	var ue *client.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run kvmctl --help for usage.")
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return client.ExitCode(err)
}

// exitError is kvmctl's own error with its exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErr is a usage error (exit 2).
func usageErr(format string, args ...any) error {
	return &client.UsageError{Msg: fmt.Sprintf(format, args...)}
}

// handler runs one command with its arguments (the words after the command's name).
type handler func(a *app, ctx context.Context, args []string) error

// commands maps "group verb" (or a lone word) to its handler.
func commands() map[string]handler {
	return map[string]handler{
		"login":                  (*app).login,
		"logout":                 (*app).logout,
		"whoami":                 (*app).whoami,
		"devices list":           (*app).devicesList,
		"devices create":         (*app).devicesCreate,
		"devices revoke":         (*app).devicesRevoke,
		"devices delete":         (*app).devicesDelete,
		"devices rename":         (*app).devicesRename,
		"devices relabel":        (*app).devicesRelabel,
		"devices retag":          (*app).devicesRetag,
		"devices enroll-token":   (*app).devicesEnrollToken,
		"console start":          (*app).consoleStart,
		"console stop":           (*app).consoleStop,
		"console get":            (*app).consoleGet,
		"console consent":        (*app).consoleConsent,
		"console consent-cancel": (*app).consoleConsentCancel,
		"console share":          (*app).consoleShare,
		"console shares":         (*app).consoleShares,
		"console unshare":        (*app).consoleUnshare,
		"users list":             (*app).usersList,
		"users invite":           (*app).usersInvite,
		"users reset-password":   (*app).usersResetPassword,
		"users disable":          (*app).usersDisable,
		"users enable":           (*app).usersEnable,
		"users reset-mfa":        (*app).usersResetMFA,
		"password change":        (*app).passwordChange,
		"password reset":         (*app).passwordReset,
		"apikeys list":           (*app).apikeysList,
		"apikeys create":         (*app).apikeysCreate,
		"apikeys revoke":         (*app).apikeysRevoke,
		"audit list":             (*app).auditList,
		"audit verify":           (*app).auditVerify,
		"audit export":           (*app).auditExport,
		"mfa enable":             (*app).mfaEnable,
		"mfa disable":            (*app).mfaDisable,
		"mfa recovery-codes":     (*app).mfaRecoveryCodes,
		"org show":               (*app).orgShow,
		"org set":                (*app).orgSet,
		"recordings list":        (*app).recordingsList,
		"recordings get":         (*app).recordingsGet,
		"recordings verify":      (*app).recordingsVerify,
		"recordings export":      (*app).recordingsExport,
	}
}

func (a *app) main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmctl", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {}
	a.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, usageText)
			return err
		}
		return usageErr("%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(a.stderr, usageText)
		return usageErr("a command is required")
	}
	if rest[0] == "help" {
		fmt.Fprint(a.stdout, usageText)
		return nil
	}
	cmds := commands()
	if h, ok := cmds[rest[0]]; ok {
		return h(a, ctx, rest[1:])
	}
	var verbs []string
	for name := range cmds {
		if g, v, ok := strings.Cut(name, " "); ok && g == rest[0] {
			verbs = append(verbs, v)
		}
	}
	if len(verbs) == 0 {
		return usageErr("unknown command %q", rest[0])
	}
	sort.Strings(verbs)
	msg := fmt.Sprintf("Usage: kvmctl %s %s ...", rest[0], strings.Join(verbs, "|"))
	if len(rest) >= 2 && (rest[1] == "-h" || rest[1] == "-help" || rest[1] == "--help" || rest[1] == "help") {
		fmt.Fprintln(a.stdout, msg)
		return flag.ErrHelp
	}
	if len(rest) < 2 || strings.HasPrefix(rest[1], "-") {
		return usageErr("%s", msg)
	}
	h, ok := cmds[rest[0]+" "+rest[1]]
	if !ok {
		return usageErr("unknown command %q; %s takes %s", rest[0]+" "+rest[1], rest[0], strings.Join(verbs, ", "))
	}
	return h(a, ctx, rest[2:])
}

// globalFlags registers the global flags on fs, keeping values already parsed.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.g.server, "server", a.g.server, "relay URL (env KVMCTL_SERVER; remembered after login)")
	fs.StringVar(&a.g.apiKey, "api-key", a.g.apiKey, "API key (env KVMCTL_API_KEY, preferred)")
	fs.StringVar(&a.g.configDir, "config-dir", a.g.configDir, "config directory (env KVMCTL_CONFIG_DIR)")
	fs.BoolVar(&a.g.allowHTTP, "allow-http", a.g.allowHTTP, "permit plain http off loopback")
	timeout := a.g.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	fs.DurationVar(&a.g.timeout, "timeout", timeout, "time limit of each request")
}

// command is a command's flag set (the global flags plus its own) and its synopsis.
type command struct {
	*flag.FlagSet
	synopsis string
}

// cmdFlags makes the flag set of command name ("devices create"); args is the rest of its
// synopsis ("NAME [--label KEY=VALUE]...").
func (a *app) cmdFlags(name, args string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors itself
	fs.Usage = func() {}
	a.globalFlags(fs)
	return &command{FlagSet: fs, synopsis: strings.TrimSpace("kvmctl " + name + " " + args)}
}

// parse parses flags and positional arguments in any order ("--" ends the flags) and checks
// the count of positional arguments: exactly one for each of names. -h prints the command's
// usage on stdout.
func (a *app) parse(fs *command, args []string, names ...string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		in := args
		if err := fs.Parse(in); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(a.stdout, "Usage: %s\n\nFlags (global flags included):\n", fs.synopsis)
				fs.SetOutput(a.stdout)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, usageErr("%s: %v (usage: %s)", fs.Name(), err, fs.synopsis)
		}
		args = fs.Args()
		if consumed := len(in) - len(args); consumed > 0 && in[consumed-1] == "--" {
			pos = append(pos, args...) // "--" ends the flags
			break
		}
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) != len(names) {
		if len(names) == 0 {
			return nil, usageErr("%s takes no arguments (got %q)", fs.Name(), pos)
		}
		return nil, usageErr("%s wants %s, got %d arguments (usage: %s)", fs.Name(), strings.Join(names, " "), len(pos), fs.synopsis)
	}
	if err := a.applyEnv(); err != nil {
		return nil, err
	}
	return pos, nil
}

// applyEnv fills the global flags not given from the environment.
func (a *app) applyEnv() error {
	if a.g.server == "" {
		a.g.server = a.getenv("KVMCTL_SERVER")
	}
	if a.g.apiKey == "" {
		a.g.apiKey = a.getenv("KVMCTL_API_KEY")
	}
	if a.g.configDir == "" {
		a.g.configDir = a.getenv("KVMCTL_CONFIG_DIR")
	}
	if a.g.timeout <= 0 {
		return usageErr("--timeout must be positive")
	}
	return nil
}

// client makes the API client from the global flags.
func (a *app) client() (*client.Client, error) {
	c, err := client.New(client.Config{
		Server:     a.g.server,
		HTTPClient: &http.Client{Timeout: a.g.timeout},
		ConfigDir:  a.g.configDir,
		APIKey:     a.g.apiKey,
		AllowHTTP:  a.g.allowHTTP,
		Now:        a.now,
	})
	if err != nil {
		return nil, err
	}
	if c.Server() == "" {
		return nil, client.ErrNoServer
	}
	return c, nil
}

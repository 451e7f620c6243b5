// Command kvmrelay is the kvmrelay server: `serve` runs the relay, `demo` runs it with a demo
// agent on a synthetic test pattern, `token` mints agent tokens and console links.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `kvmrelay — WebRTC remote console relay

Usage:
  kvmrelay serve [flags]           run the relay (HTTP, signaling, embedded TURN)
  kvmrelay demo  [flags]           run the relay plus a demo agent and print a console link
  kvmrelay migrate [--database-url URL | --data-dir DIR]   apply the database migrations
  kvmrelay admin create --org NAME --email E --password-stdin   create an organization and its owner
  kvmrelay token agent   --device NAME    print an agent token
  kvmrelay token console --device NAME    print a one-time console link

Every flag can also be set as an environment variable KVMRELAY_<FLAG>, e.g.
KVMRELAY_TURN_LISTEN=0.0.0.0:3478. Run "kvmrelay serve -h" for the flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = runServe(ctx, os.Args[2:])
	case "demo":
		err = runDemo(ctx, os.Args[2:])
	case "token":
		err = runToken(ctx, os.Args[2:], os.Stdout, os.Stderr)
	case "migrate":
		err = runMigrate(ctx, os.Args[2:])
	case "admin":
		err = runAdmin(ctx, os.Args[2:], os.Stdin, os.Stdout)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "kvmrelay: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		slog.Error("kvmrelay failed", "err", err)
		fmt.Fprintf(os.Stderr, "kvmrelay: %v\n", err)
		os.Exit(1)
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/kvmrelay/kvmrelay/relay"
)

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kvmrelay serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log := f.logger()
	if f.redisURL != "" {
		// go-redis has one process-wide logger (its own lines go to stderr by default): this
		// command owns the process, so it is set here, once, and never by a package or a test.
		redis.SetLogger(redisLogger{log: log.With("component", "go-redis")})
	}
	cfg, err := f.relayConfig(log, nil)
	if err != nil {
		return err
	}
	r, err := relay.New(cfg)
	if err != nil {
		return err
	}
	log.Info("kvmrelay serving", "url", r.URL(), "turn", cfg.TURN != nil, "redis", cfg.RedisURL != "")
	fmt.Printf("kvmrelay: serving on %s (console links: kvmrelay token console --device NAME --data-dir %s)\n", r.URL(), f.dataDir)
	return r.Serve(ctx)
}

// redisLogger adapts slog to go-redis's logger. go-redis logs only trouble (a pool that cannot
// dial, a connection given up), hence warnings.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}

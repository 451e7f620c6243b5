# kvmrelay — the two commands a new user needs:
#   make demo   install what is missing, build, run the relay with a demo agent, print a console link
#   make test   the whole suite, browser tests included (CI runs this)
# Benchmarks print figures and never fail on time: make bench (bench-latency, bench-ttff,
# bench-encode, bench-sources, bench-vnc, bench-turn, bench-login, bench-gateway, bench-sfu,
# bench-recording, bench-fanout).

GO        ?= go
BIN       := bin
NETNS     := $(CURDIR)/scripts/netns-exec
# Fuzz targets run for this long each in `make test` (SECURITY.md item 15).
FUZZTIME  ?= 4s
TEST_TIMEOUT ?= 15m

.PHONY: all deps build demo test unit fuzz vet bench bench-latency bench-ttff bench-encode bench-sources bench-vnc bench-turn bench-login bench-gateway bench-sfu bench-recording bench-fanout clean

all: build

deps:
	@scripts/deps

build: deps
	$(GO) build -o $(BIN)/ ./cmd/...

demo: build
	$(BIN)/kvmrelay demo

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Every test runs inside a private network namespace (scripts/netns-exec) when root, so the
# browser and the peers find each other on a test-host interface and nothing leaves the machine.
# The browser tests (./e2e/) run after the rest, not beside QEMU's BIOS and x11vnc: on a
# two-core machine a starved page once took longer than any of their waits.
unit: deps
	$(GO) test -exec $(NETNS) -timeout $(TEST_TIMEOUT) -count=1 $$($(GO) list ./... | grep -v '/e2e$$')
	$(GO) test -exec $(NETNS) -timeout $(TEST_TIMEOUT) -count=1 ./e2e/

fuzz: deps
	@scripts/fuzz $(FUZZTIME)

test: vet unit fuzz

bench: bench-encode bench-sources bench-latency bench-vnc bench-ttff bench-turn bench-login bench-gateway bench-sfu bench-recording bench-fanout

bench-encode: deps
	$(GO) test -run '^$$' -bench . -benchtime 60x ./media/...

# Per source: agent CPU per frame and capture → Next (VNC full and small updates, MJPEG with
# both JPEG decoders, H.264 passthrough, V4L2 pixel conversions, the resize for a thin link,
# Intel AMT's encoding 16 at 1280×1024 16 bpp and 1920×1080 8 bpp).
bench-sources: deps
	$(GO) test -run '^$$' -bench . -benchtime 2s -benchmem ./device/... ./rfb/ ./media/scale/ ./internal/amtsim/amtrfb/

# Key → screen through a real VNC server (x11vnc on Xvfb, a Tk window drawing the latency strip)
# next to the test pattern at the same size, in Chromium.
bench-vnc: deps
	KVMRELAY_BENCH=vnc $(GO) test -exec $(NETNS) -run '^TestBenchVNCLatency$$' -v -count=1 -timeout 20m ./e2e/

bench-latency: deps
	KVMRELAY_BENCH=latency $(GO) test -exec $(NETNS) -run '^TestBenchLatency$$' -v -count=1 -timeout 20m ./e2e/

bench-ttff: deps
	KVMRELAY_BENCH=ttff $(GO) test -exec $(NETNS) -run '^TestBenchTimeToFirstFrame$$' -v -count=1 -timeout 20m ./e2e/

# The same turnutils_uclient load against coturn and the embedded TURN, alternating (turn/README.md).
bench-turn: deps
	scripts/bench-turn

# Logins under floods (control/accounts/bench_login_test.go): a legitimate login's p50/p95 idle
# and under 3,000 random-email logins; how long a rotating-address flood keeps the user out and
# how many guesses it gets per account and hour.
bench-login:
	$(GO) test -run '^$$' -bench 'BenchmarkLogin(Flood|Lockout)' -benchtime 1x -count=1 -timeout 10m ./control/accounts/

# What an Intel AMT gateway's heartbeat costs the store: marking 200, 2,000 and 10,000 machines
# seen in one write, on SQLite and PostgreSQL (control/store/storetest/benchgateway.go).
bench-gateway: deps
	KVMRELAY_BENCH=gateway $(GO) test -run '^TestBenchGatewayPresence$$' -v -count=1 -timeout 10m ./control/store/sqlite/ ./control/store/postgres/

# The relay's video forwarder (sfu/, not yet wired into the relay): CPU per forwarded RTP packet
# and viewer with 1, 5 and 20 viewers (RTP rewriting and the interceptor chain; no SRTP, no socket).
bench-sfu:
	$(GO) test -run '^$$' -bench BenchmarkForward -benchmem -benchtime 2s -count=3 ./sfu/

# The session recorder (recording/, not yet wired into the relay): CPU per frame and bytes per
# minute of a 1080p30 x264 stream written to fMP4 (fsync per fragment included).
bench-recording: deps
	$(GO) test -run '^$$' -bench BenchmarkRecord1080p -benchtime 20x -count=3 ./recording/

# Shared sessions: one 1080p30 machine watched by 1, 5 and 20 consoles (the first peer to peer,
# the others through the relay), kvmrelay and kvmagent as processes: each one's CPU, the agent's
# upload, frames per viewer, key → screen for the controller and a relayed viewer (Chromium),
# and the relay's CPU and bytes per minute with the organization's recording on.
# KVMRELAY_BENCH_SAMPLES (default 100) latency samples per console count, KVMRELAY_BENCH_WINDOW
# (default 10) seconds per CPU window.
bench-fanout: deps
	KVMRELAY_BENCH=fanout $(GO) test -exec $(NETNS) -run '^TestBenchFanout$$' -v -count=1 -timeout 20m ./e2e/

clean:
	rm -rf $(BIN)

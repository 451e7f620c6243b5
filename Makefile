# kvmrelay — the two commands a new user needs:
#   make demo   install what is missing, build, run the relay with a demo agent, print a console link
#   make test   the whole suite, browser tests included (CI runs this)
# Benchmarks print figures and never fail on time: make bench (bench-latency, bench-ttff,
# bench-encode, bench-turn, bench-login).

GO        ?= go
BIN       := bin
NETNS     := $(CURDIR)/scripts/netns-exec
# Fuzz targets run for this long each in `make test` (SECURITY.md item 15).
FUZZTIME  ?= 10s
TEST_TIMEOUT ?= 15m

.PHONY: all deps build demo test unit fuzz vet bench bench-latency bench-ttff bench-encode bench-turn bench-login clean

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
unit: deps
	$(GO) test -exec $(NETNS) -timeout $(TEST_TIMEOUT) -count=1 ./...

fuzz: deps
	@scripts/fuzz $(FUZZTIME)

test: vet unit fuzz

bench: bench-encode bench-latency bench-ttff bench-turn bench-login

bench-encode: deps
	$(GO) test -run '^$$' -bench . -benchtime 60x ./media/...

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

clean:
	rm -rf $(BIN)

package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forbiddenDep is a package the agent must not link, and why.
type forbiddenDep struct{ path, why string }

// forbiddenDeps are the relay's servers and the libraries only they need: an agent runs on
// small devices, and code it links but never runs is size and attack surface for nothing.
// A path forbids itself and every package under it.
func forbiddenDeps() []forbiddenDep {
	const mod = "github.com/kvmrelay/kvmrelay/"
	return []forbiddenDep{
		{"github.com/gofiber", "fiber, the relay's HTTP server"},
		{"github.com/valyala/fasthttp", "fasthttp, under fiber"},
		{"github.com/fasthttp", "fasthttp's WebSocket server"},
		{"github.com/lestrrat-go/jwx", "JWT, the relay's token checks"},
		{"github.com/prometheus/client_golang/prometheus/promhttp", "the /metrics HTTP server"},
		{"github.com/jackc/pgx", "the relay's PostgreSQL store"},
		{"modernc.org/sqlite", "the relay's embedded store"},
		{"github.com/redis/go-redis", "the relay's bus between nodes"},
		{mod + "relay", "the relay"},
		{mod + "auth", "the relay's tokens"},
		{mod + "turn", "the relay's TURN server"},
		{mod + "control/store", "the relay's store"},
		{mod + "signaling/redisbus", "the relay's bus between nodes"},
	}
}

// serverSignaling is the relay's signaling server; its subpackages wire and sigclient are
// what the agent needs, so only the package itself is forbidden.
const serverSignaling = "github.com/kvmrelay/kvmrelay/signaling"

// TestAgentLinksNoServerCode: kvmagent, built for this machine and for a cgo-less arm64
// device, pulls in none of the relay's server code. A failure names the package and the
// import chain that pulls it.
func TestAgentLinksNoServerCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"host", nil},
		{"linux-arm64-nocgo", []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, graph := importGraph(t, ".", tc.env)
			found := forbiddenImports(root, graph)
			assert.Empty(t, found, "kvmagent links relay server code:\n%s", strings.Join(found, "\n"))
		})
	}
}

// TestForbiddenImportsFindsTheRelay: the same check on kvmrelay, which links all of it,
// reports the relay package with its chain, and every report names a chain from kvmrelay's
// main package to the package reported: the check can fail, and says why.
func TestForbiddenImportsFindsTheRelay(t *testing.T) {
	root, graph := importGraph(t, "../kvmrelay", nil)
	found := forbiddenImports(root, graph)
	const relayPkg = "github.com/kvmrelay/kvmrelay/relay"
	assert.Contains(t, found, relayPkg+" (the relay) pulled by "+root+" -> "+relayPkg)
	for _, f := range found {
		pkg, _, _ := strings.Cut(f, " ")
		assert.Contains(t, f, " pulled by "+root+" -> ")
		assert.True(t, strings.HasSuffix(f, " -> "+pkg), "chain of %q ends elsewhere", f)
	}
}

// importGraph runs go list -deps on pkg and returns the root's import path and every
// package's imports.
func importGraph(t *testing.T, pkg string, env []string) (string, map[string][]string) {
	t.Helper()
	goTool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first on PATH
	require.NoError(t, err)
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{.DepOnly}}{{range .Imports}} {{.}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	graph := map[string][]string{}
	var root string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		require.GreaterOrEqual(t, len(f), 2, "go list line %q", sc.Text())
		graph[f[0]] = f[2:]
		if f[1] == "false" {
			root = f[0]
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, root, "go list named no root package")
	return root, graph
}

// forbiddenImports lists, for each forbidden package reachable from root, a line naming it,
// why it is forbidden, and the shortest import chain that pulls it.
func forbiddenImports(root string, graph map[string][]string) []string {
	// Breadth first from root: parent[p] is the package through which p was first reached.
	parent := map[string]string{root: ""}
	queue := []string{root}
	var found []string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if why, bad := forbidden(p); bad {
			found = append(found, p+" ("+why+") pulled by "+strings.Join(chain(parent, p), " -> "))
			continue // what it pulls in is its own doing
		}
		for _, imp := range graph[p] {
			if _, seen := parent[imp]; !seen {
				parent[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return found
}

func forbidden(p string) (string, bool) {
	if p == serverSignaling {
		return "the relay's signaling server", true
	}
	for _, f := range forbiddenDeps() {
		if p == f.path || strings.HasPrefix(p, f.path+"/") {
			return f.why, true
		}
	}
	return "", false
}

// chain is the import path from the root to p.
func chain(parent map[string]string, p string) []string {
	var c []string
	for ; p != ""; p = parent[p] {
		c = append([]string{p}, c...)
	}
	return c
}

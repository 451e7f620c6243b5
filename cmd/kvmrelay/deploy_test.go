package main

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kvmrelay/kvmrelay/device/builtin"
	"github.com/kvmrelay/kvmrelay/internal/cli"
)

// deployDir is deploy/ from this package's directory (tests run there).
const deployDir = "../../deploy"

// serveFlagNames are the flags of `kvmrelay serve`.
func serveFlagNames() []string {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	var names []string
	fs.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	return names
}

// flagNamesIn lists the flags function fn of a Go file defines on a FlagSet named fs
// (fs.String("name", …), fs.IntVar(&v, "name", …)): how the commands whose flags live inside a
// function declare them.
// secretFlagNames are the flags kvmagent (and the demo) take from builtin.RegisterSecretFlags.
func secretFlagNames() []string {
	fs := flag.NewFlagSet("secrets", flag.ContinueOnError)
	builtin.RegisterSecretFlags(fs)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func flagNamesIn(t *testing.T, path, fn string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	require.NoError(t, err)
	var body ast.Node
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == fn && fd.Recv == nil {
			body = fd
		}
	}
	require.NotNil(t, body, "no func %s in %s", fn, path)
	var names []string
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if recv, ok := sel.X.(*ast.Ident); !ok || recv.Name != "fs" {
			return true
		}
		arg := 0
		switch {
		case strings.HasSuffix(sel.Sel.Name, "Var"):
			arg = 1
		case slices.Contains([]string{"String", "Int", "Int64", "Uint", "Uint64", "Bool", "Duration", "Float64"}, sel.Sel.Name):
		default:
			return true
		}
		if len(call.Args) > arg {
			if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				names = append(names, name)
			}
		}
		return true
	})
	require.NotEmpty(t, names, "no flags found in %s", path)
	return names
}

// readmeSection is the text of deploy/README.md under the "### title" heading.
func readmeSection(t *testing.T, readme, title string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n### "+title+"\n")
	require.True(t, ok, "deploy/README.md has no section %q", title)
	section, _, _ := strings.Cut(after, "\n#")
	return section
}

// TestDeployReadmeListsEveryVariable: deploy/README.md has a row — variable and flag — for every
// flag of `kvmrelay serve`, `kvmrelay migrate` and `kvmagent run`, and no row for a flag that
// does not exist.
func TestDeployReadmeListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "README.md"))
	require.NoError(t, err)
	readme := string(b)
	for _, tc := range []struct {
		section, prefix string
		flags           []string
		exact           bool // also no row without a flag
	}{
		{"`kvmrelay serve`", envPrefix, serveFlagNames(), true},
		{"`kvmrelay migrate`", envPrefix, flagNamesIn(t, "migrate.go", "runMigrate"), true},
		// The agent's flags are changing under another branch of work: its rows may run ahead.
		{"`kvmagent run`", "KVMAGENT_", append(flagNamesIn(t, "../kvmagent/main.go", "run"), secretFlagNames()...), false},
	} {
		t.Run(tc.section, func(t *testing.T) {
			section := readmeSection(t, readme, tc.section)
			rows := map[string]string{} // variable → its table row
			for _, line := range strings.Split(section, "\n") {
				if m := regexp.MustCompile("^\\| `(" + tc.prefix + "[A-Z0-9_]+)` \\|").FindStringSubmatch(line); m != nil {
					rows[m[1]] = line
				}
			}
			for _, name := range tc.flags {
				env := cli.EnvName(tc.prefix, name)
				row, ok := rows[env]
				if assert.True(t, ok, "deploy/README.md section %s has no row for %s (--%s)", tc.section, env, name) {
					assert.Contains(t, row, "`--"+name+"`", "the row of %s names its flag", env)
				}
				delete(rows, env)
			}
			if tc.exact {
				assert.Empty(t, rows, "rows for variables that are no flag of %s", tc.section)
			}
		})
	}
}

// TestDeployFilesUseRealVariables: every KVMRELAY_* and KVMAGENT_* set in deploy/ (compose
// file, environment file examples, units, Dockerfile) is a flag's variable: a misspelt one
// would be silently ignored.
func TestDeployFilesUseRealVariables(t *testing.T) {
	known := map[string]bool{}
	for _, n := range append(serveFlagNames(), flagNamesIn(t, "migrate.go", "runMigrate")...) {
		known[cli.EnvName(envPrefix, n)] = true
	}
	for _, n := range append(flagNamesIn(t, "../kvmagent/main.go", "run"), secretFlagNames()...) {
		known[cli.EnvName("KVMAGENT_", n)] = true
	}
	files, err := filepath.Glob(filepath.Join(deployDir, "*"))
	require.NoError(t, err)
	units, err := filepath.Glob(filepath.Join(deployDir, "systemd", "*"))
	require.NoError(t, err)
	var checked int
	assignment := regexp.MustCompile(`(?m)^\s*#?\s*(?:ENV\s+)?((?:KVMRELAY|KVMAGENT)_[A-Z0-9_]+)\s*[:=]`)
	for _, path := range append(files, units...) {
		if filepath.Ext(path) == ".md" {
			continue
		}
		info, err := os.Stat(path)
		require.NoError(t, err)
		if info.IsDir() {
			continue
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, m := range assignment.FindAllStringSubmatch(string(b), -1) {
			checked++
			assert.True(t, known[m[1]], "%s sets %s, which is no flag's variable", path, m[1])
		}
	}
	assert.Greater(t, checked, 20, "the pattern found the variables")
}

// compose is the part of a compose file these tests look at.
type compose struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Restart     string            `yaml:"restart"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

// TestDockerCompose: deploy/docker-compose.yml runs the relay image on PostgreSQL 15 and Redis 7,
// migrates as the owner in a one-shot service before the relay starts as the application role,
// and publishes the TURN ports. Checked by parsing it here (no Docker needed); where the
// docker compose CLI exists, `docker compose config` must accept the file too.
func TestDockerCompose(t *testing.T) {
	path := filepath.Join(deployDir, "docker-compose.yml")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(b, &c))

	require.Subset(t, keys(c.Services), []string{"relay", "migrate", "postgres", "redis"})
	assert.Equal(t, "postgres:15", c.Services["postgres"].Image)
	assert.Equal(t, "redis:7", c.Services["redis"].Image)

	relay, migrate := c.Services["relay"], c.Services["migrate"]
	for name, s := range map[string]struct{ image, dockerfile, context string }{
		"relay":   {relay.Image, relay.Build.Dockerfile, relay.Build.Context},
		"migrate": {migrate.Image, migrate.Build.Dockerfile, migrate.Build.Context},
	} {
		assert.Equal(t, "deploy/Dockerfile", s.dockerfile, "%s builds deploy/Dockerfile", name)
		assert.Equal(t, "..", s.context, "%s builds from the repository root", name)
		assert.Equal(t, relay.Image, s.image, "relay and migrate run one image")
	}
	_, err = os.Stat(filepath.Join(deployDir, "..", relay.Build.Dockerfile))
	require.NoError(t, err)

	// Start order: postgres healthy → migrate done → relay (with Redis healthy).
	assert.Equal(t, "service_healthy", migrate.DependsOn["postgres"].Condition)
	assert.Equal(t, "service_completed_successfully", relay.DependsOn["migrate"].Condition)
	assert.Equal(t, "service_healthy", relay.DependsOn["redis"].Condition)
	assert.Equal(t, "no", migrate.Restart, "migrate runs once")
	assert.Contains(t, strings.Join(append(migrate.Entrypoint, migrate.Command...), " "), "kvmrelay migrate")
	assert.Equal(t, []string{"serve"}, relay.Command)

	// Roles: the owner migrates, the relay connects as the application role.
	dbUser := func(env map[string]string) string {
		// The password is a ${…} substitution, which url.Parse refuses in user info.
		m := regexp.MustCompile(`^postgres://([a-z_]+):\$\{[A-Z_]+\}@postgres:5432/`).FindStringSubmatch(env["KVMRELAY_DATABASE_URL"])
		require.NotNil(t, m, "KVMRELAY_DATABASE_URL %q", env["KVMRELAY_DATABASE_URL"])
		return m[1]
	}
	assert.Equal(t, c.Services["postgres"].Environment["POSTGRES_USER"], dbUser(migrate.Environment), "migrate connects as the database owner")
	assert.Equal(t, "kvmrelay_app", dbUser(relay.Environment), "the relay connects as the application role migrate creates")
	assert.Contains(t, relay.Environment["KVMRELAY_REDIS_URL"], "@redis:6379")

	// TURN: 3478 over UDP and TCP, TLS on 5349, and the relay port range the relay uses.
	assert.Subset(t, relay.Ports, []string{"3478:3478/udp", "3478:3478/tcp", "5349:5349/tcp", "8080:8080/tcp"})
	lo, hi, err := cli.PortRange(relay.Environment["KVMRELAY_TURN_RELAY_PORTS"])
	require.NoError(t, err)
	span := strconv.Itoa(int(lo)) + "-" + strconv.Itoa(int(hi))
	assert.Contains(t, relay.Ports, span+":"+span+"/udp", "the whole relay port range is published")
	assert.Equal(t, "0.0.0.0:3478", relay.Environment["KVMRELAY_TURN_LISTEN"])

	t.Run("docker compose config", func(t *testing.T) {
		cmd := composeCLI()
		if cmd == nil {
			// Not installed here (nor on this project's CI machines): the parse above is the check.
			t.Log("no docker compose CLI: the compose file was validated by parsing it in Go only")
			return
		}
		cmd = append(cmd, "-f", path, "config", "--quiet")
		run := exec.Command(cmd[0], cmd[1:]...)
		run.Env = append(os.Environ(), "POSTGRES_OWNER_PASSWORD=x", "RELAY_DB_PASSWORD=y", "REDIS_PASSWORD=z", "TURN_PUBLIC_IP=203.0.113.10")
		out, err := run.CombinedOutput()
		require.NoError(t, err, "%s: %s", strings.Join(cmd, " "), out)
	})
}

// composeCLI is the Compose v2 command that works here (the docker plugin, or a standalone v2
// docker-compose), nil if none does; config needs no daemon. Compose v1 (Debian's
// docker-compose 1.29) is not used: it predates the Compose Specification this file follows
// (it refuses the top-level name, for one).
func composeCLI() []string {
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		out, err := exec.Command(c[0], append(c[1:], "version", "--short")...).Output()
		if err == nil && strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "2") {
			return c
		}
	}
	return nil
}

// TestDockerfile: a multi-stage build, Go with the encoders' headers, then debian:12-slim with
// their libraries only, running as a user.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	require.NoError(t, err)
	var stages [][]string // per stage, its instructions
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		require.NotEmpty(t, stages, "instruction before FROM: %s", line)
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	require.Len(t, stages, 2, "builder and runtime")
	build, runtime := strings.Join(stages[0], "\n"), strings.Join(stages[1], "\n")
	assert.Regexp(t, `^FROM golang:\S+ AS build`, build)
	for _, pkg := range []string{"libx264-dev", "libvpx-dev", "pkg-config"} {
		assert.Contains(t, build, pkg)
	}
	assert.Regexp(t, `^FROM debian:12-slim`, runtime)
	for _, pkg := range []string{"libx264-164", "libvpx7", "ca-certificates"} {
		assert.Contains(t, runtime, pkg)
	}
	assert.Contains(t, runtime, "COPY --from=build")
	assert.Regexp(t, `(?m)^USER kvmrelay`, runtime, "the relay does not run as root")
	assert.NotContains(t, runtime, "-dev ", "no build headers in the runtime image")
}

// TestSystemdUnits: the units are hardened as deploy/README.md says.
func TestSystemdUnits(t *testing.T) {
	for _, unit := range []string{"kvmrelay.service", "kvmagent.service"} {
		t.Run(unit, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(deployDir, "systemd", unit))
			require.NoError(t, err)
			settings := map[string][]string{}
			for _, line := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(line, "#") {
					settings[k] = append(settings[k], v)
				}
			}
			for k, v := range map[string]string{
				"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
				"PrivateTmp": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
			} {
				assert.Equal(t, []string{v}, settings[k], k)
			}
			assert.Len(t, settings["StateDirectory"], 1)
			assert.Len(t, settings["EnvironmentFile"], 1)
			assert.Empty(t, settings["AmbientCapabilities"], "the default ports need no capability")
			assert.Regexp(t, `^/usr/local/bin/kvm(relay serve|agent run)$`, settings["ExecStart"][0])
		})
	}
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify complains about the binaries missing here; anything else is a unit error.
		out, _ := exec.Command(p, "verify", filepath.Join(deployDir, "systemd", "kvmrelay.service"), filepath.Join(deployDir, "systemd", "kvmagent.service")).CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" && !strings.Contains(line, "is not executable") {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	} else {
		t.Log("no systemd-analyze: the units were checked by the assertions above only")
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

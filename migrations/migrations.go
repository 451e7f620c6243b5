// Package migrations holds kvmrelay's versioned SQL schema, one numbered file per step and per
// dialect (sqlite/NNNN_name.sql, postgres/NNNN_name.sql), embedded into the binary. The stores
// apply them with `kvmrelay migrate` and refuse to start on a schema they do not know.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Dialect names a directory of migrations.
type Dialect string

// The dialects kvmrelay ships migrations for.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Migration is one numbered step of the schema.
type Migration struct {
	Version int    // 1, 2, … with no gaps
	Name    string // file name, for logs and errors
	SQL     string
}

// List returns the dialect's migrations in version order. It fails when the numbering has a gap
// or a duplicate, so a mistake in this directory breaks the build's tests rather than a deploy.
func List(d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations: read %s: %w", d, err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migrations: %s/%s: want NNNN_name.sql", d, name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migrations: %s/%s: bad version %q", d, name, num)
		}
		b, err := files.ReadFile(path.Join(string(d), name))
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s/%s: %w", d, name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: %s: version %d (%s) where %d was expected", d, m.Version, m.Name, i+1)
		}
	}
	return out, nil
}

// Latest is the newest version this binary knows for the dialect.
func Latest(d Dialect) (int, error) {
	ms, err := List(d)
	if err != nil {
		return 0, err
	}
	return len(ms), nil
}

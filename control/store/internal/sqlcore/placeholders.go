package sqlcore

import (
	"strconv"
	"strings"
)

// Dollar rewrites ? parameters as $1, $2, … for PostgreSQL. The store's queries contain no ?
// inside literals or operators, so a plain scan is enough.
func Dollar(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

package sqlcore

import (
	"encoding/json"
	"fmt"
	"time"
)

// timeCol scans a time stored as timestamptz (PostgreSQL gives time.Time) or as integer
// microseconds since the epoch (SQLite), NULL leaving it invalid.
type timeCol struct {
	T     time.Time
	Valid bool
}

func (c *timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c = timeCol{}
	case time.Time:
		*c = timeCol{T: x.UTC(), Valid: true}
	case int64:
		*c = timeCol{T: time.UnixMicro(x).UTC(), Valid: true}
	default:
		return fmt.Errorf("sqlcore: cannot scan %T into a time", v)
	}
	return nil
}

func (c timeCol) ptr() *time.Time {
	if !c.Valid {
		return nil
	}
	t := c.T
	return &t
}

// ts normalizes a time the way both databases keep it: UTC, microseconds.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsPtr is ts for a nullable time, as a query argument.
func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func tsPtrVal(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// labelsCol scans the JSON text of a device's labels.
type labelsCol map[string]string

func (c *labelsCol) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("sqlcore: cannot scan %T into labels", v)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("sqlcore: labels: %w", err)
	}
	*c = m
	return nil
}

func encodeLabels(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("sqlcore: labels: %w", err)
	}
	return string(b), nil
}

// tagsCol scans a gateway's AMT tags: NULL or the JSON text of an array of strings, NULL and
// an empty array both as nil.
type tagsCol []string

func (c *tagsCol) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		*c = nil
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("sqlcore: cannot scan %T into AMT tags", v)
	}
	var tags []string
	if err := json.Unmarshal(b, &tags); err != nil {
		return fmt.Errorf("sqlcore: AMT tags: %w", err)
	}
	if len(tags) == 0 {
		tags = nil
	}
	*c = tags
	return nil
}

// encodeTags is the column value of AMT tags: NULL (nil) for none, else a JSON array.
func encodeTags(tags []string) (any, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return nil, fmt.Errorf("sqlcore: AMT tags: %w", err)
	}
	return string(b), nil
}

// nullText scans a nullable text or uuid column, NULL as "".
type nullText string

func (c *nullText) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c = ""
	case string:
		*c = nullText(x)
	case []byte:
		*c = nullText(x)
	default:
		return fmt.Errorf("sqlcore: cannot scan %T into text", v)
	}
	return nil
}

// orNull binds "" as NULL.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

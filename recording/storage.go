package recording

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Probe checks that dir (made if missing) takes a recording: it creates, writes, syncs and
// removes a temporary file there. A session whose policy requires recording does not start
// when it fails; the error says what to do.
func Probe(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return storageError("create directory", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return storageError("create a file in", dir, err)
	}
	_, werr := f.Write([]byte("kvmrelay"))
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	switch {
	case werr != nil:
		return storageError("write", f.Name(), werr)
	case cerr != nil:
		return storageError("close", f.Name(), cerr)
	case rerr != nil:
		return storageError("remove", f.Name(), rerr)
	}
	return nil
}

// Sweep applies a retention period: it removes the recordings in dir whose files were all
// last modified before olderThan, both files of a recording together, and returns the ids
// removed. A recording being written is modified at least every FragmentDuration, so it is
// kept as long as olderThan is in the past. Files that are not a recording's are left alone.
// The audit chain keeps the removed recordings' digests; the caller audits the removal.
func Sweep(dir string, olderThan time.Time) (removed []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("recording: sweep %s: %w", dir, err)
	}
	newest := map[string]time.Time{}
	var order []string
	for _, e := range entries {
		id, ok := recordingID(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		t, seen := newest[id]
		if !seen {
			order = append(order, id)
		}
		if !seen || info.ModTime().After(t) {
			newest[id] = info.ModTime()
		}
	}
	var errs []error
	for _, id := range order {
		if !newest[id].Before(olderThan) {
			continue
		}
		if err := removeFiles(VideoPath(dir, id), TimelinePath(dir, id)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, id)
	}
	return removed, errors.Join(errs...)
}

// recordingID returns the id of a recording's file name.
func recordingID(name string) (string, bool) {
	for _, suffix := range []string{".timeline.jsonl", ".mp4"} {
		if id, ok := strings.CutSuffix(name, suffix); ok && validID.MatchString(id) {
			return id, true
		}
	}
	return "", false
}

package recording

import (
	"errors"
	"fmt"
)

// ErrCodecNotRecordable is returned for a stream the MP4 muxer cannot hold (VP8): a policy
// that requires recording refuses the session; one that only asks for it goes on without.
var ErrCodecNotRecordable = errors.New("recording: codec not recordable (only H.264 is: switch the device to H.264 to record its sessions)")

// ErrTampered is returned by Verify when a file's SHA-256 is not the one recorded.
var ErrTampered = errors.New("recording: file does not match its recorded SHA-256")

// ErrClosed is returned by a Recorder used after Close.
var ErrClosed = errors.New("recording: closed")

// ErrKeysNotCaptured is returned by AddEvent for keystrokes when the organization does not
// capture them: they are never written, whatever the caller sends.
var ErrKeysNotCaptured = errors.New("recording: keystroke capture is off for this recording")

// ErrStorage marks a failure to create, write or sync a recording's files: the data
// directory is the operator's to fix.
var ErrStorage = errors.New("recording: storage")

// storageAdvice is what an operator can do about a storage failure.
const storageAdvice = "the recordings directory is not writable or full: check its permissions and free space, or set --recordings-dir"

// storageError wraps a file operation's failure with the path and what to do about it.
func storageError(op, path string, err error) error {
	return fmt.Errorf("%w: %s %s: %w (%s)", ErrStorage, op, path, err, storageAdvice)
}

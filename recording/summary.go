package recording

import "time"

// File is one file of a recording as it was written.
type File struct {
	Path string
	Size int64
	// SHA256 is the hex digest of the bytes written, for the audit chain and Verify.
	SHA256 string
}

// Format is the picture size from a media time on.
type Format struct {
	At            time.Duration
	Width, Height int
}

// Summary is what Close reports about a recording. A recording that never saw a keyframe
// has an empty video file and no frames.
type Summary struct {
	ID       string
	Video    File
	Timeline File
	// Started and Ended are the wall times of the recorder's start and Close.
	Started, Ended time.Time
	// Duration is the video's media duration.
	Duration time.Duration
	// Frames and Keyframes are the samples in the file, and how many are sync samples
	// (after a storage failure, those written before it).
	Frames, Keyframes int
	// Dropped counts frames not written: cut by lost packets, or undecodable while the
	// recorder waited for a keyframe. LostPackets counts the packets that never came.
	Dropped, LostPackets int
	// Formats lists the picture sizes in order.
	Formats []Format
	// Events is the number of timeline lines, the recorder's own included.
	Events int
}

// Stats are a live recorder's counters.
type Stats struct {
	Packets, LostPackets, LatePackets int
	Frames, Keyframes, Dropped        int
	// Bytes is the video file's size so far.
	Bytes int64
	// Duration is the media time recorded so far.
	Duration time.Duration
	// WaitingForKeyframe is set from the start, and after a loss, until a keyframe comes.
	WaitingForKeyframe bool
}

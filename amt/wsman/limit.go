package wsman

import (
	"errors"
	"io"
)

// errTooLarge is returned once a message exceeds its byte budget.
var errTooLarge = errors.New("wsman: message too large")

// budgetReader passes reads through until n bytes have been read in the
// current message, then fails. reset starts the next message's budget, so a
// bufio.Reader on top can live as long as the connection.
type budgetReader struct {
	r    io.Reader
	n    int64 // bytes left in this message
	read int64 // bytes read in this message
}

func (b *budgetReader) reset(n int64) { b.n, b.read = n, 0 }

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	b.read += int64(n)
	return n, err
}

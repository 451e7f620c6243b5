package api

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// serveFile streams a file with single-range support (RFC 9110 §14), which a <video> needs to
// seek. It does not use fiber's SendFile: that keeps a process-wide file cache (and its
// cleaner goroutine) that could serve a file changed or removed in the last seconds, and a
// recording's bytes must be the ones on disk.
func (a *API) serveFile(c *fiber.Ctx, path, contentType string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fail(c, fiber.StatusNotFound, CodeNotFound, "The file is gone (removed by retention?).")
	}
	if err != nil {
		return a.failErr(c, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return a.failErr(c, err)
	}
	size := int(info.Size())
	start, end := 0, size-1
	status := fiber.StatusOK
	if rng := c.Get(fiber.HeaderRange); rng != "" && size > 0 {
		s, e, err := fasthttp.ParseByteRange([]byte(rng), size)
		if err != nil {
			_ = f.Close()
			c.Set(fiber.HeaderContentRange, "bytes */"+strconv.Itoa(size))
			return fail(c, fiber.StatusRequestedRangeNotSatisfiable, CodeBadRequest, "The Range is not one range within the file.")
		}
		start, end, status = s, e, fiber.StatusPartialContent
		c.Set(fiber.HeaderContentRange, "bytes "+strconv.Itoa(s)+"-"+strconv.Itoa(e)+"/"+strconv.Itoa(size))
	}
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderContentType, contentType)
	c.Status(status)
	// fasthttp closes the stream once written (or when the client is gone).
	c.Context().SetBodyStream(readCloser{io.NewSectionReader(f, int64(start), int64(end-start+1)), f}, end-start+1)
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

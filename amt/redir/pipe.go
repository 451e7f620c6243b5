package redir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Pipe copies client↔device through the Interposer until either side ends, ctx ends or a
// direction fails, then closes both streams (that is what stops the copy blocked on the
// other) and returns. A clean end of either stream (io.EOF, or a stream closed under the
// copy) is not an error; the context's error is returned when it ended the pipe.
func (i *Interposer) Pipe(ctx context.Context, client, device io.ReadWriteCloser) error {
	var (
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	closeBoth := func(err error) {
		once.Do(func() {
			firstErr = err
			_ = client.Close()
			_ = device.Close()
		})
	}
	stop := context.AfterFunc(ctx, func() { closeBoth(ctx.Err()) })
	defer stop()
	wg.Add(2)
	go func() {
		defer wg.Done()
		closeBoth(pump(device, client, i.FromClient, "client → device"))
	}()
	go func() {
		defer wg.Done()
		closeBoth(pump(client, device, i.FromDevice, "device → client"))
	}()
	wg.Wait()
	return firstErr
}

// pump reads src, transforms, writes dst; nil on a clean end of src.
func pump(dst io.Writer, src io.Reader, transform func([]byte) ([]byte, error), what string) error {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			out, err := transform(buf[:n])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if len(out) > 0 {
				if _, err := dst.Write(out); err != nil {
					return cleanEnd(fmt.Errorf("%s: %w", what, err))
				}
			}
		}
		if rerr != nil {
			return cleanEnd(fmt.Errorf("%s: %w", what, rerr))
		}
	}
}

func cleanEnd(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}

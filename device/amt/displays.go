package amt

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/device"
)

// Displays lists the machine's screens.
func (s *Source) Displays(ctx context.Context) ([]device.Display, error) {
	ds, err := s.mgmt.displays(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: displays: %w", s, err)
	}
	s.mu.Lock()
	want := s.display
	s.mu.Unlock()
	out := make([]device.Display, 0, len(ds))
	for _, d := range ds {
		if !d.active {
			continue
		}
		cur := d.index == want || (want < 0 && d.isDefault)
		out = append(out, device.Display{Index: d.index, Width: d.width, Height: d.height, Role: d.role, Current: cur})
	}
	return out, nil
}

// SelectDisplay makes the next connection show screen index.
func (s *Source) SelectDisplay(index int) error {
	if index < 0 || index > 7 {
		return fmt.Errorf("%s: no display %d", s, index)
	}
	s.mu.Lock()
	s.display = index
	s.mu.Unlock()
	return nil
}

var _ device.DisplayControl = (*Source)(nil)

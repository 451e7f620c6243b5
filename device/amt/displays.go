package amt

import (
	"context"
	"fmt"

	"github.com/kvmrelay/kvmrelay/device"
)

// Displays lists the machine's screens through MPS (direct mode: not offered).
func (s *Source) Displays(ctx context.Context) ([]device.Display, error) {
	if !s.spec.viaMPS {
		return nil, nil
	}
	ds, err := s.mps.Displays(ctx, s.spec.guid)
	if err != nil {
		return nil, fmt.Errorf("%s: displays: %w", s, err)
	}
	s.mu.Lock()
	want := s.display
	s.mu.Unlock()
	out := make([]device.Display, 0, len(ds))
	for _, d := range ds {
		if !d.Active {
			continue
		}
		cur := d.Index == want || (want < 0 && d.Default)
		out = append(out, device.Display{Index: d.Index, Width: d.ResolutionX, Height: d.ResolutionY, Role: d.Role, Current: cur})
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

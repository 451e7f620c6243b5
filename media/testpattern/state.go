package testpattern

// PointerPosition reports where the cursor mark is, in pixels, and whether any pointer event
// has arrived yet (tests check that a console's mouse lands where it points).
func (s *Source) PointerPosition() (x, y int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in.x, s.in.y, s.in.pointerSet
}

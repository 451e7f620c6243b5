package testpattern

// PointerPosition reports where the cursor mark is, in pixels, and whether any pointer event
// has arrived yet (tests check that a console's mouse lands where it points).
func (s *Source) PointerPosition() (x, y int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in.x, s.in.y, s.in.pointerSet
}

// HeldKeys lists the modifier keys the source believes are held (tests check that input is
// released when a console goes away).
func (s *Source) HeldKeys() []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var held []uint16
	for i := 0; i < 8; i++ {
		if s.in.mods&(1<<i) != 0 {
			held = append(held, 0xE0+uint16(i))
		}
	}
	return held
}

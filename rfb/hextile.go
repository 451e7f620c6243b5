package rfb

import "image"

// Hextile subencoding bits.
const (
	hextileRaw              = 1
	hextileBackground       = 2
	hextileForeground       = 4
	hextileAnySubrects      = 8
	hextileSubrectsColoured = 16
)

// Hextile is encoding 5: 16×16 tiles, each raw or a background with solid subrectangles.
type Hextile struct{}

// Encoding returns 5.
func (Hextile) Encoding() int32 { return EncodingHextile }

// Decode draws the tiles of r. Background and foreground carry over from tile to tile.
func (Hextile) Decode(s *DecodeState, r image.Rectangle) error {
	bpp := s.Pixels.BytesPerPixel()
	var bg, fg uint32
	for ty := r.Min.Y; ty < r.Max.Y; ty += 16 {
		for tx := r.Min.X; tx < r.Max.X; tx += 16 {
			tile := image.Rect(tx, ty, min(tx+16, r.Max.X), min(ty+16, r.Max.Y))
			sub, err := s.R.U8()
			if err != nil {
				return err
			}
			if sub&hextileRaw != 0 {
				if err := (Raw{}).Decode(s, tile); err != nil {
					return err
				}
				continue
			}
			if sub&hextileBackground != 0 {
				b, err := s.R.Next(bpp)
				if err != nil {
					return err
				}
				bg = s.Pixels.Pixel(b, bpp)
			}
			s.Fill(tile, bg)
			if sub&hextileForeground != 0 {
				b, err := s.R.Next(bpp)
				if err != nil {
					return err
				}
				fg = s.Pixels.Pixel(b, bpp)
			}
			if sub&hextileAnySubrects == 0 {
				continue
			}
			n, err := s.R.U8()
			if err != nil {
				return err
			}
			coloured := sub&hextileSubrectsColoured != 0
			size := 2
			if coloured {
				size += bpp
			}
			b, err := s.R.Next(int(n) * size)
			if err != nil {
				return err
			}
			for i := 0; i < int(n); i++ {
				e := b[i*size:]
				col := fg
				if coloured {
					col, e = s.Pixels.Pixel(e, bpp), e[bpp:]
				}
				x, y := tx+int(e[0]>>4), ty+int(e[0]&15)
				sr := image.Rect(x, y, x+int(e[1]>>4)+1, y+int(e[1]&15)+1)
				if !sr.In(tile) {
					return protoErr("hextile subrectangle %v outside its tile %v", sr, tile)
				}
				s.Fill(sr, col)
			}
		}
	}
	return nil
}

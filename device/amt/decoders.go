package amt

import "github.com/kvmrelay/kvmrelay/rfb"

// amtDecoders are the encodings offered to AMT: RAW must be among them.
func amtDecoders() []rfb.Decoder {
	return rfb.DefaultDecoders()
}

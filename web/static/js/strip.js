// Reads the latency strip that the test-pattern source draws (DESIGN.md, "Latency strip"): 16
// blocks of 32×32 px in a row at the frame's top-left corner, block i white when bit i of the
// agent's key-down count is set.
const BLOCKS = 16;
const BLOCK = 32;
const WIDTH = BLOCKS * BLOCK;
const THRESHOLD = 128; // luminance 0…255

export class StripReader {
  #canvas = document.createElement("canvas");
  #ctx;

  constructor() {
    this.#canvas.width = WIDTH;
    this.#canvas.height = 1;
    // The pixels are read back every frame: keep the canvas in CPU memory.
    this.#ctx = this.#canvas.getContext("2d", { willReadFrequently: true });
  }

  /** The count shown by the video's current frame, or null when the frame is too small to
   * hold a strip. Only the row through the blocks' centres is copied, in video pixels. */
  read(video) {
    if (video.videoWidth < WIDTH || video.videoHeight < BLOCK) return null;
    this.#ctx.drawImage(video, 0, BLOCK / 2, WIDTH, 1, 0, 0, WIDTH, 1);
    const px = this.#ctx.getImageData(0, 0, WIDTH, 1).data;
    let count = 0;
    for (let i = 0; i < BLOCKS; i++) {
      const o = (i * BLOCK + BLOCK / 2) * 4;
      const luma = 0.299 * px[o] + 0.587 * px[o + 1] + 0.114 * px[o + 2];
      if (luma >= THRESHOLD) count |= 1 << i;
    }
    return count;
  }
}

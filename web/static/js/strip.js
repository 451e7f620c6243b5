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
   * hold a strip. Only the row through the blocks' centres is read, in video pixels. */
  read(video) {
    if (video.videoWidth < WIDTH || video.videoHeight < BLOCK) return null;
    const fromFrame = this.#readFrame(video);
    if (fromFrame !== undefined) return fromFrame;
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

  #rows = null;

  /** Reads the strip's luma straight from the decoded picture (WebCodecs VideoFrame.copyTo of
   * a 512×2 rectangle): drawing a video onto a canvas converts the whole frame to RGB, which
   * at 1080p costs the CPU the agent and the decoder need. Returns undefined where the
   * browser or the pixel format does not allow it, and the caller falls back to the canvas. */
  #readFrame(video) {
    if (this.#rows === false || typeof VideoFrame === "undefined") return undefined;
    let frame;
    try {
      frame = new VideoFrame(video);
      if (!["I420", "I420A", "NV12"].includes(frame.format)) {
        this.#rows = false; // e.g. RGB from a hardware decoder: use the canvas from now on
        return undefined;
      }
      const rect = { x: 0, y: BLOCK / 2, width: WIDTH, height: 2 };
      const size = frame.allocationSize({ rect });
      if (!this.#rows || this.#rows.length < size) this.#rows = new Uint8Array(size);
      // Synchronous for frames in CPU memory; the promise only reports completion.
      const layout = frame.copyTo(this.#rows, { rect });
      void layout;
      let count = 0;
      for (let i = 0; i < BLOCKS; i++) {
        if (this.#rows[i * BLOCK + BLOCK / 2] >= THRESHOLD) count |= 1 << i;
      }
      return count;
    } catch {
      this.#rows = false;
      return undefined;
    } finally {
      frame?.close();
    }
  }
}

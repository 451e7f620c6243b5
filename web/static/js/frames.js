// Watches every frame the <video> presents (requestVideoFrameCallback): counts displayed
// frames per second and feeds the latency strip to the latency meter.
import { StripReader } from "./strip.js";

// Reading pixels back costs a copy of the frame, so the strip is read on every frame only while
// a key-down waits to be seen, and otherwise a few times a second to keep the count current.
const IDLE_READ_EVERY = 15;

export class FrameWatcher {
  #video;
  #meter;
  #reader = new StripReader();
  #frames = 0;
  #windowStart = 0;
  #windowFrames = 0;
  #fps = null;
  #lastFrame = 0;
  #stripCount = null;

  constructor(video, meter) {
    this.#video = video;
    this.#meter = meter;
  }

  start() {
    // Without requestVideoFrameCallback (older Firefox) the console works, minus the displayed
    // frame rate and the latency strip.
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const tick = (now) => {
      this.#onFrame(now);
      this.#video.requestVideoFrameCallback(tick);
    };
    this.#video.requestVideoFrameCallback(tick);
  }

  /** Frames presented per second over the last second, or null before the first second. */
  get fps() {
    // A still source presents no frames at all; say so instead of repeating an old rate.
    if (this.#fps !== null && performance.now() - this.#lastFrame > 1500) return 0;
    return this.#fps;
  }

  /** The strip value of the newest frame read, or null when the frame cannot hold one. */
  get stripCount() {
    return this.#stripCount;
  }

  #onFrame(now) {
    this.#frames++;
    this.#lastFrame = now;
    this.#windowFrames++;
    if (now - this.#windowStart >= 1000) {
      if (this.#windowStart) this.#fps = (this.#windowFrames * 1000) / (now - this.#windowStart);
      this.#windowStart = now;
      this.#windowFrames = 0;
    }
    if (this.#meter.waiting || this.#meter.count === null || this.#frames % IDLE_READ_EVERY === 0) {
      this.#stripCount = this.#reader.read(this.#video);
      // Timestamp the sample when the page has actually seen the pixels, not with the callback's
      // `now`: that is the start of the rendering step, and when the callback runs late the
      // video may already hold a newer frame than the one it was called for, which would make
      // a sample look shorter than it was. This errs long, never short.
      this.#meter.frame(this.#stripCount, performance.now());
    }
  }
}

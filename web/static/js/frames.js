// Watches every frame the <video> presents (requestVideoFrameCallback): counts displayed
// frames per second and feeds the latency strip to the latency meter.
import { StripReader } from "./strip.js";

// Reading pixels back costs a copy of the frame, so the strip is read on every frame only while
// a key-down waits to be seen, and otherwise a few times a second to keep the count current.
const IDLE_READ_EVERY = 15;
// Strip changes kept while a benchmark traces the strip (traceStrip): the newest only.
const TRACE_KEEP = 512;

export class FrameWatcher {
  #video;
  #meter;
  #changes;
  #reader = new StripReader();
  #frames = 0;
  #windowStart = 0;
  #windowFrames = 0;
  #fps = null;
  #lastFrame = 0;
  #stripCount = null;
  #trace = null; // [time shown (ms since the epoch), count] per strip change, while traced

  /** meter: the strip's LatencyMeter; changes: the ChangeMeter (input → first change). */
  constructor(video, meter, changes) {
    this.#video = video;
    this.#meter = meter;
    this.#changes = changes;
  }

  start() {
    // Without requestVideoFrameCallback (older Firefox) the console works, minus the displayed
    // frame rate and the latency strip.
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const tick = (now, metadata) => {
      this.#onFrame(now, metadata);
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

  /** Trace the strip (on) or stop (off): while traced, the strip is read on every frame and
   * each new count is kept with the time its frame was shown, on the epoch clock that every
   * tab of a browser shares — so the latency benchmark can time, in a console that sends no
   * keys (a relayed viewer), when another console's key-down showed up here. */
  traceStrip(on) {
    this.#trace = on ? [] : null;
  }

  /** The traced strip changes, oldest first: [time shown in ms since the epoch, count]. */
  get stripTrace() {
    return this.#trace ? this.#trace.map((e) => e.slice()) : [];
  }

  #onFrame(now, metadata) {
    this.#frames++;
    this.#lastFrame = now;
    this.#windowFrames++;
    if (now - this.#windowStart >= 1000) {
      if (this.#windowStart) this.#fps = (this.#windowFrames * 1000) / (now - this.#windowStart);
      this.#windowStart = now;
      this.#windowFrames = 0;
    }
    // When the frame reaches the screen: its expected display time, or — if this callback
    // runs later than that (a busy main thread) — now, because the video may by then hold a
    // newer frame than the one the callback is for and the pixels read below come from it.
    // Taken before reading the pixels: the readback is this page's cost, not the latency.
    const shown = Math.max(metadata?.expectedDisplayTime ?? now, performance.now());
    this.#changes.presented(metadata?.rtpTimestamp, shown);
    if (this.#trace || this.#meter.waiting || this.#meter.count === null || this.#frames % IDLE_READ_EVERY === 0) {
      const previous = this.#stripCount;
      this.#stripCount = this.#reader.read(this.#video);
      this.#meter.frame(this.#stripCount, shown, metadata);
      if (this.#trace && this.#stripCount !== null && this.#stripCount !== previous) {
        this.#trace.push([performance.timeOrigin + shown, this.#stripCount]);
        if (this.#trace.length > TRACE_KEEP) this.#trace.splice(0, this.#trace.length - TRACE_KEEP);
      }
    }
  }
}

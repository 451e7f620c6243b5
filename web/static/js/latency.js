// Input-to-display latency from the latency strip (see strip.js): each key-down the console
// sends should, some time later, show up as the strip's count going up by one. The time from
// the key event to the first presented frame that shows the new count is one sample.
//
// Most sources have no strip, and their top-left corner decodes to noise. The meter therefore
// only believes in a strip once CONFIRMATIONS key-downs in a row were answered exactly — the
// count moved to what was expected, never past it, and never without a key — and forgets it at
// the first surprise.
const WINDOW = 100; // samples kept for the percentiles
const TIMEOUT_MS = 2000; // a key-down not shown within this is a miss
const CONFIRMATIONS = 2;

export class LatencyMeter {
  #count = null; // strip value of the newest frame read
  #pending = []; // {t, expected} per key-down not yet shown, oldest first
  #provisional = []; // samples taken before the strip was confirmed
  #samples = [];
  #byKey = []; // [key-down time, ms] of the samples, for tests that compare meters key by key
  #total = 0; // samples ever recorded (the window above keeps only the newest)
  #lastSplit = null; // where the newest sample's time went
  #confirmed = 0;

  /** Whether the source draws a strip that follows this console's key presses. */
  get hasStrip() {
    return this.#confirmed >= CONFIRMATIONS;
  }

  get count() {
    return this.#count;
  }

  /** How many samples were recorded since the page loaded (only the last WINDOW are kept). */
  get total() {
    return this.#total;
  }

  /** Where the newest sample's time went, from the frame's requestVideoFrameCallback metadata:
   * {total, received, presented} in ms after the key-down — when the frame's last packet
   * arrived, and when it was handed to the compositor (null where the browser does not say). */
  get lastSplit() {
    return this.#lastSplit;
  }

  /** The last WINDOW samples in milliseconds, oldest first. */
  get samples() {
    return this.#samples.slice();
  }

  /** Whether frames must be read now: a key-down is waiting to be seen. */
  get waiting() {
    return this.#pending.length > 0;
  }

  /** A key-down left at time t (the event's timeStamp, on the performance.now() clock). */
  keyDown(t) {
    if (this.#count === null) return;
    const base = this.#pending.length ? this.#pending.at(-1).expected : this.#count;
    this.#pending.push({ t, expected: (base + 1) & 0xffff });
  }

  /** Keys the meter cannot follow went out (text typed by the agent): start over from the
   * next frame's count, keeping what was confirmed. */
  resync() {
    this.#pending = [];
    this.#count = null;
  }

  /** A new video stream: nothing known about its strip yet. */
  reset() {
    this.resync();
    this.#miss();
  }

  /** The strip of a frame presented at time now read count (null: no strip possible); metadata
   * is the requestVideoFrameCallback metadata of that frame, when there is one. */
  frame(count, now, metadata) {
    const previous = this.#count;
    this.#count = count;
    if (count === null) {
      this.#pending = [];
      return;
    }
    while (this.#pending.length && now - this.#pending[0].t > TIMEOUT_MS) {
      this.#pending.shift();
      this.#miss();
    }
    if (previous === null || count === previous) return;
    const first = this.#pending[0];
    const last = this.#pending.at(-1);
    if (!first || !reached(count, first.expected) || !reached(last.expected, count)) {
      // The count moved without a key, backwards, or further than the keys explain.
      this.#pending = [];
      this.#miss();
      return;
    }
    while (this.#pending.length && reached(count, this.#pending[0].expected)) {
      const t = this.#pending.shift().t;
      this.#lastSplit = {
        total: now - t,
        received: typeof metadata?.receiveTime === "number" ? metadata.receiveTime - t : null,
        presented: typeof metadata?.presentationTime === "number" ? metadata.presentationTime - t : null,
      };
      this.#record(now - t, t);
    }
  }

  #record(ms, t) {
    this.#confirmed++;
    if (!this.hasStrip) {
      this.#provisional.push([t, ms]);
      return;
    }
    const fresh = [...this.#provisional, [t, ms]];
    this.#provisional = [];
    this.#total += fresh.length;
    this.#samples.push(...fresh.map(([, v]) => v));
    this.#byKey.push(...fresh);
    if (this.#samples.length > WINDOW) this.#samples.splice(0, this.#samples.length - WINDOW);
    if (this.#byKey.length > WINDOW) this.#byKey.splice(0, this.#byKey.length - WINDOW);
  }

  /** The last WINDOW samples as [key-down time, ms]. */
  get samplesByKey() {
    return this.#byKey.map((p) => p.slice());
  }

  #miss() {
    this.#confirmed = 0;
    this.#provisional = [];
  }
}

/** Whether 16-bit counter a has reached b (serial-number arithmetic, RFC 1982). */
function reached(a, b) {
  return ((a - b) & 0xffff) < 0x8000;
}

/** The p-th percentile (0…100) of the samples by nearest rank, or null without samples. */
export function percentile(samples, p) {
  if (!samples.length) return null;
  const sorted = samples.slice().sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

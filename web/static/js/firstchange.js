// Input → first change: works for every source, not only the test pattern's strip. After a
// key-down the console sends a PROBE; the agent answers with a FRAME_NOTE naming the RTP
// timestamp of the first video frame that changed after the probe arrived (docs/protocol.md
// §2). The time from the key event to that frame's presentation is one sample. It measures
// "the screen reacted", which for a VNC server or a capture card is the whole input path plus
// the source's own delay — labelled as what it is.
const WINDOW = 100; // samples kept for the percentiles
const TIMEOUT_MS = 3000; // a probe not answered by then is forgotten
const KEEP_FRAMES = 240; // presented frames remembered, for notes that arrive after the frame

export class ChangeMeter {
  #nextId = 1;
  #sent = new Map(); // probe id → key-down time
  #shown = new Map(); // RTP timestamp → presentation time, oldest first
  #waiting = new Map(); // RTP timestamp → probe ids noted before the frame was presented
  #samples = [];
  #byKey = []; // [key-down time, ms], for tests that compare meters key by key
  #total = 0;

  /** A key-down went out at time t: returns the id of the probe to send after it. */
  probe(t) {
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    this.#sent.set(id, t);
    for (const [old, at] of this.#sent) {
      if (t - at <= TIMEOUT_MS) break;
      this.#sent.delete(old);
    }
    return id;
  }

  /** The agent's FRAME_NOTE: probe id was first answered by the frame with RTP timestamp rtp.
   * The browser may never present that very frame (a newer one replaced it before the next
   * screen refresh): then the first presented frame at or after it shows the change. */
  note(id, rtp) {
    for (const [presented, shown] of this.#shown) {
      if (atOrAfter(presented, rtp)) {
        this.#answer(id, shown);
        return;
      }
    }
    const ids = this.#waiting.get(rtp) ?? [];
    ids.push(id);
    this.#waiting.set(rtp, ids);
    if (this.#waiting.size > KEEP_FRAMES) this.#waiting.delete(this.#waiting.keys().next().value);
  }

  /** A frame with RTP timestamp rtp was presented at time shown. */
  presented(rtp, shown) {
    if (typeof rtp !== "number") return;
    if (!this.#shown.has(rtp)) this.#shown.set(rtp, shown);
    if (this.#shown.size > KEEP_FRAMES) this.#shown.delete(this.#shown.keys().next().value);
    for (const [noted, ids] of this.#waiting) {
      if (!atOrAfter(rtp, noted)) continue;
      this.#waiting.delete(noted);
      for (const id of ids) this.#answer(id, shown);
    }
  }

  #answer(id, shown) {
    const t = this.#sent.get(id);
    if (t === undefined) return;
    this.#sent.delete(id);
    const ms = Math.max(0, shown - t);
    this.#samples.push(ms);
    this.#byKey.push([t, ms]);
    this.#total++;
    if (this.#samples.length > WINDOW) this.#samples.splice(0, this.#samples.length - WINDOW);
    if (this.#byKey.length > WINDOW) this.#byKey.splice(0, this.#byKey.length - WINDOW);
  }

  /** The last WINDOW samples as [key-down time, ms]. */
  get samplesByKey() {
    return this.#byKey.map((p) => p.slice());
  }

  /** The last WINDOW samples in milliseconds, oldest first. */
  get samples() {
    return this.#samples.slice();
  }

  /** How many samples were recorded since the page loaded. */
  get total() {
    return this.#total;
  }

  /** A new video stream: frames and pending probes of the old one mean nothing. */
  reset() {
    this.#sent.clear();
    this.#shown.clear();
    this.#waiting.clear();
  }
}

/** Whether 32-bit RTP timestamp a is at or after b (serial-number arithmetic, RFC 1982). */
function atOrAfter(a, b) {
  return ((a - b) >>> 0) < 0x80000000;
}

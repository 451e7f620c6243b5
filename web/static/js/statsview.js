// The statistics panel. Numbers are formatted for people: whole frames, kbit/s or Mbit/s,
// milliseconds with no false precision.
import { percentile } from "./latency.js";

const num = (v) => (v < 10 ? v.toFixed(1) : String(Math.round(v)));
const ms = (v) => (v == null ? "–" : `${num(v)} ms`);
const fps = (v) => (v == null ? "–" : `${Math.round(v)}`);

export class StatsView {
  #panel = document.getElementById("stats");
  #cells = new Map(
    [...this.#panel.querySelectorAll("[data-stat]")].map((el) => [el.dataset.stat, el]),
  );
  #latencyRow = this.#panel.querySelector("[data-row=latency]");

  get shown() {
    return !this.#panel.hidden;
  }

  set shown(on) {
    this.#panel.hidden = !on;
  }

  /** s: the summary from stats.js (or null); displayedFps: from the frame watcher; meter: the
   * strip's latency meter; changes: the input → first change meter. */
  render(s, displayedFps, meter, changes) {
    if (this.#panel.hidden) return;
    this.#set("resolution", s?.width ? `${s.width} × ${s.height}` : "–");
    this.#set("fps", s || displayedFps != null ? `${fps(s?.fpsDecoded)} decoded · ${fps(displayedFps)} shown` : "–");
    this.#set("bitrate", bitrate(s?.bitrateKbps));
    this.#set("rtt", ms(s?.rttMs));
    this.#set("path", s?.path ?? "–");
    this.#set("codec", s?.codec ?? "–");
    this.#set("jitter", ms(s?.jitterBufferMs));
    this.#set("decode", ms(s?.decodeMs));
    this.#set("lost", s?.packetsLost == null ? "–" : String(s.packetsLost));
    // Only a source that draws the latency strip can be measured.
    this.#latencyRow.hidden = !meter.hasStrip;
    if (meter.hasStrip) {
      const samples = meter.samples;
      this.#set("latency", samples.length
        ? `p50 ${num(percentile(samples, 50))} · p95 ${num(percentile(samples, 95))} ms`
        : "press a key");
    }
    const firsts = changes.samples;
    this.#set("first-change", firsts.length
      ? `p50 ${num(percentile(firsts, 50))} · p95 ${num(percentile(firsts, 95))} ms`
      : "press a key");
  }

  #set(name, text) {
    const cell = this.#cells.get(name);
    if (cell.textContent !== text) cell.textContent = text;
  }
}

function bitrate(kbps) {
  if (kbps == null) return "–";
  if (kbps >= 1000) return `${(kbps / 1000).toFixed(1)} Mbit/s`;
  return `${Math.round(kbps)} kbit/s`;
}

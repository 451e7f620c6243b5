// The recording player: the video (fetched with the access token as a Blob, played from a
// blob: URL that only this page can use), and below it a bar per participant showing when
// they watched and when they held control; clicking a bar seeks there. Export downloads the
// MP4 (audited by the relay, like every viewing).
import { byId, el, say } from "./dom.js";
import { messageOf } from "./errors.js";
import { bytes, clock, spans } from "./rectimeline.js";
import { when } from "./recordings.js";

export class RecordingPlayer {
  #api;
  #video = byId("player-video");
  #title = byId("player-title");
  #meta = byId("player-meta");
  #status = byId("player-status");
  #tracks = byId("player-tracks");
  #axis = byId("player-axis");
  #export = byId("player-export");
  #recording = null;
  #url = ""; // the blob: URL of the video on show
  #duration = 0; // the timeline's length, ms
  #heads = []; // playhead lines, one per track
  #generation = 0; // a newer open() supersedes an older one still loading

  /** api: Api; onBack(): back to the list. */
  constructor({ api, onBack }) {
    this.#api = api;
    byId("player-back").addEventListener("click", () => onBack());
    this.#export.addEventListener("click", () => this.#download());
    this.#video.addEventListener("timeupdate", () => this.#moveHeads());
    this.#video.addEventListener("seeked", () => this.#moveHeads());
  }

  /** Opens recording r (a list row): its video and its timeline. */
  async open(r) {
    const generation = ++this.#generation;
    this.close();
    this.#recording = r;
    this.#title.textContent = `Recording of ${r.device_name ? String(r.device_name) : "a deleted device"}`;
    this.#meta.textContent = [when(r.started_at), clock(r.duration_ms), bytes(r.bytes), r.capture_keys ? "keystrokes captured" : ""]
      .filter(Boolean)
      .join(" · ");
    say(this.#status, "Loading the recording…");
    this.#export.disabled = true;
    try {
      const progress = (got, total) => {
        if (generation === this.#generation) say(this.#status, `Loading the recording… ${loaded(got, total || r.bytes)}`);
      };
      const [blob, lines] = await Promise.all([this.#api.recordingVideo(r.id, false, progress), this.#api.recordingTimeline(r.id)]);
      if (generation !== this.#generation) return;
      this.#url = URL.createObjectURL(blob);
      this.#video.src = this.#url;
      this.#draw(spans(lines, r.duration_ms));
      say(this.#status, "");
      this.#export.disabled = false;
    } catch (err) {
      if (generation === this.#generation) say(this.#status, `The recording could not be opened: ${messageOf(err)}`, "error");
    }
  }

  /** Stops playing and lets the video go. */
  close() {
    this.#video.pause();
    this.#video.removeAttribute("src");
    this.#video.load();
    if (this.#url) URL.revokeObjectURL(this.#url);
    this.#url = "";
    this.#tracks.replaceChildren();
    this.#axis.replaceChildren();
    this.#heads = [];
  }

  #draw(tl) {
    this.#duration = tl.duration;
    this.#tracks.replaceChildren();
    this.#heads = [];
    if (tl.participants.length === 0) {
      this.#tracks.append(el("p", { class: "empty", text: "The timeline names no participants." }));
    }
    for (const p of tl.participants) {
      const track = el("div", { class: "track", attrs: { role: "button", title: "Click to play from here" }, aria: { label: `Timeline of ${p.name}` } });
      track.tabIndex = 0;
      for (const s of p.present) track.append(this.#bar("bar-present", s));
      for (const s of p.control) {
        const bar = this.#bar("bar-control", s);
        bar.title = `${p.name} in control ${clock(s.from)}–${clock(s.to)}`;
        track.append(bar);
      }
      const head = el("span", { class: "playhead" });
      this.#heads.push(head);
      track.append(head);
      track.addEventListener("click", (ev) => {
        const box = track.getBoundingClientRect();
        this.#seek(((ev.clientX - box.left) / Math.max(1, box.width)) * this.#duration);
      });
      track.addEventListener("keydown", (ev) => {
        const step = ev.key === "ArrowRight" ? 5000 : ev.key === "ArrowLeft" ? -5000 : 0;
        if (step) this.#seek(this.#video.currentTime * 1000 + step);
      });
      const grant = p.grant ? ` (${p.grant})` : "";
      this.#tracks.append(
        el(
          "div",
          { class: "track-row", data: { sid: p.sid, controlSpans: p.control.length } },
          el("span", { class: "track-name", text: `${p.name}${grant}`, attrs: { title: p.sid } }),
          track,
        ),
      );
    }
    this.#axis.replaceChildren(el("span", { text: clock(0) }), el("span", { text: clock(tl.duration) }));
    this.#moveHeads();
  }

  #bar(cls, s) {
    const bar = el("span", { class: `bar ${cls}` });
    const d = Math.max(1, this.#duration);
    bar.style.left = `${(100 * s.from) / d}%`;
    bar.style.width = `${Math.max(0.5, (100 * (s.to - s.from)) / d)}%`;
    return bar;
  }

  #seek(ms) {
    const max = Number.isFinite(this.#video.duration) ? this.#video.duration : this.#duration / 1000;
    this.#video.currentTime = Math.min(Math.max(0, ms / 1000), max);
    this.#moveHeads();
  }

  #moveHeads() {
    const pct = `${Math.min(100, (100 * this.#video.currentTime * 1000) / Math.max(1, this.#duration))}%`;
    for (const h of this.#heads) h.style.left = pct;
  }

  async #download() {
    const r = this.#recording;
    if (!r) return;
    this.#export.disabled = true;
    try {
      const blob = await this.#api.recordingVideo(r.id, true, (got, total) =>
        say(this.#status, `Exporting the recording… ${loaded(got, total || r.bytes)}`),
      );
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `recording-${String(r.id)}.mp4`;
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      say(this.#status, "");
    } catch (err) {
      say(this.#status, `The export failed: ${messageOf(err)}`, "error");
    } finally {
      this.#export.disabled = false;
    }
  }
}

// loaded says how much of a download has arrived: "12 MB of 40 MB (30%)".
function loaded(got, total) {
  if (!(total > 0)) return bytes(got);
  return `${bytes(got)} of ${bytes(total)} (${Math.min(100, Math.floor((100 * got) / total))}%)`;
}

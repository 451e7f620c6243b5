// The Recordings page (auditors, admins, owners): the organization's recorded console sessions,
// newest first, each opening in the player. Names, device names and errors come from consoles
// and agents: textContent only.
import { byId, el, say } from "./dom.js";
import { messageOf } from "./errors.js";
import { bytes, clock } from "./rectimeline.js";

const PAGE = 50;

export class RecordingsView {
  #api;
  #onPlay;
  #rows = byId("recording-rows");
  #table = byId("recording-table");
  #message = byId("recordings-message");
  #more = byId("recordings-more");
  #offset = 0;
  #loading = false;

  /** api: Api; onPlay(recording): open one in the player. */
  constructor({ api, onPlay }) {
    this.#api = api;
    this.#onPlay = onPlay;
    byId("recordings-reload").addEventListener("click", () => this.show());
    this.#more.addEventListener("click", () => this.#load(false));
  }

  /** Lists the first page again. */
  show() {
    this.#offset = 0;
    return this.#load(true);
  }

  async #load(fresh) {
    if (this.#loading) return;
    this.#loading = true;
    say(this.#message, fresh ? "Loading recordings…" : "");
    try {
      const page = await this.#api.recordings({ limit: PAGE, offset: this.#offset });
      const list = Array.isArray(page?.recordings) ? page.recordings : [];
      if (fresh) this.#rows.replaceChildren();
      for (const r of list) this.#rows.append(this.#row(r));
      this.#offset = typeof page?.next_offset === "number" ? page.next_offset : this.#offset + list.length;
      this.#more.hidden = typeof page?.next_offset !== "number";
      const none = this.#rows.childElementCount === 0;
      this.#table.hidden = none;
      say(this.#message, none ? "No recordings yet. An owner turns recording on in the Account page's organization settings." : "");
    } catch (err) {
      say(this.#message, `The recordings could not be listed: ${messageOf(err)}`, "error");
    } finally {
      this.#loading = false;
    }
  }

  #row(r) {
    const names = Array.isArray(r.participants) ? r.participants.map((p) => String(p?.name ?? "")).filter(Boolean) : [];
    const device = r.device_name ? String(r.device_name) : `${String(r.device_id ?? "")} (deleted)`;
    const state = r.state === "failed" && r.error ? `failed: ${String(r.error)}` : String(r.state ?? "");
    const play = el("button", { class: "btn", attrs: { type: "button" }, text: "Play" });
    play.disabled = r.state !== "complete";
    play.addEventListener("click", () => this.#onPlay(r));
    return el(
      "tr",
      { data: { recording: String(r.id ?? "") } },
      el("td", { class: "mono", text: shortID(r.session_id), attrs: { title: String(r.session_id ?? "") } }),
      el("td", { text: device }),
      el("td", { text: names.length ? names.join(", ") : "—" }),
      el("td", { text: when(r.started_at), attrs: { title: String(r.started_at ?? "") } }),
      el("td", { class: "num", text: clock(r.duration_ms) }),
      el("td", { class: "num", text: bytes(r.bytes) }),
      el("td", { text: state, data: { state: String(r.state ?? "") } }),
      el("td", {}, play),
    );
  }
}

/** A date and time in the browser's zone, to the minute. */
export function when(iso) {
  const t = Date.parse(iso ?? "");
  if (Number.isNaN(t)) return "";
  return new Date(t).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function shortID(id) {
  const s = String(id ?? "");
  return s.length > 8 ? `${s.slice(0, 8)}…` : s;
}

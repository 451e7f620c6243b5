// The device list: presence, what each agent reports, the console's state; filter, open and
// stop consoles. Reloads itself while shown, so presence stays current.
import { byId, say } from "./dom.js";
import { deviceRow } from "./devicerow.js";
import { sessionSummary, sessionLine, holder, matches, labels, capabilities } from "./format.js";
import { openConsole } from "./consoles.js";
import { messageOf } from "./errors.js";
import { can } from "./roles.js";
import { confirmStopAll } from "./stopall.js";

const RELOAD_MS = 10_000; // presence changes within the agents' 10 s heartbeat
const SESSION_LOOKUPS = 50; // the console state is looked up for this many shown devices at most
const LOOKUP_PARALLEL = 4;
const HOLD_MAX_MS = 2_000; // the longest a pressed pointer delays a re-render

export class DevicesView {
  #api;
  #notice;
  #me = null;
  #devices = [];
  #summaries = new Map(); // device id → sessionSummary
  #busy = new Set(); // device ids with a request in flight
  #timer = 0;
  #loading = null;
  #rows = byId("device-rows");
  #table = byId("device-table");
  #message = byId("devices-message");
  #filter = byId("device-filter");
  #count = byId("device-count");
  // While a pointer is pressed on the list, re-rendering would replace the row under it and the
  // person's click would never arrive (press on the old button, release on the new one): the
  // render waits until the pointer is released, and runs after that click.
  #pressed = false;
  #pressedAt = 0;
  #renderHeld = false;

  /** api: Api; notice(text, kind): shows a page-level message. */
  constructor({ api, notice }) {
    this.#api = api;
    this.#notice = notice;
    this.#filter.addEventListener("input", () => this.#render());
    byId("device-reload").addEventListener("click", () => this.reload());
    this.#rows.addEventListener("click", (e) => this.#onClick(e));
    this.#rows.addEventListener("pointerdown", () => {
      this.#pressed = true;
      this.#pressedAt = Date.now();
    });
    for (const type of ["pointerup", "pointercancel"]) {
      window.addEventListener(type, () => this.#released());
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.#me) this.reload();
    });
  }

  /** Shows the list for the signed-in user me (GET /me) and keeps it current. */
  start(me) {
    this.#me = me;
    this.#devices = [];
    this.#summaries.clear();
    this.#render();
    return this.reload();
  }

  stop() {
    this.#me = null;
    clearTimeout(this.#timer);
    this.#devices = [];
    this.#summaries.clear();
    this.#rows.replaceChildren();
  }

  /** Loads devices and their console state now; one load at a time. */
  reload() {
    this.#loading ??= this.#load().finally(() => {
      this.#loading = null;
      clearTimeout(this.#timer);
      if (this.#me && !document.hidden) this.#timer = setTimeout(() => this.reload(), RELOAD_MS);
    });
    return this.#loading;
  }

  async #load() {
    if (!this.#me) return;
    if (!can(this.#me.role, "read_devices")) {
      this.#render();
      return;
    }
    try {
      this.#devices = await this.#api.devices();
    } catch (err) {
      if (!this.#me) return;
      this.#notice(`The device list could not be loaded: ${messageOf(err)}`, "error");
      return;
    }
    this.#render();
    await this.#loadSessions();
    this.#render();
  }

  // Looks up the recent sessions of the shown devices, a few requests at a time.
  async #loadSessions() {
    const queue = this.#shown().slice(0, SESSION_LOOKUPS);
    const worker = async () => {
      for (let d = queue.shift(); d && this.#me; d = queue.shift()) {
        try {
          const open = await this.#api.liveSessions(d.id);
          const last = open.length > 0 ? null : ((await this.#api.sessions(d.id, 1))[0] ?? null);
          this.#summaries.set(d.id, sessionSummary(open, last));
        } catch {
          this.#summaries.delete(d.id);
        }
      }
    };
    await Promise.all(Array.from({ length: LOOKUP_PARALLEL }, worker));
  }

  #shown() {
    const q = this.#filter.value.trim();
    if (!q) return this.#devices;
    return this.#devices.filter((d) => matches(searchText(d), q));
  }

  #released() {
    if (!this.#pressed) return;
    this.#pressed = false;
    if (this.#renderHeld) {
      this.#renderHeld = false;
      setTimeout(() => this.#render(), 0); // after the click this release makes
    }
  }

  #render() {
    // A press is a click in progress for a moment only: a pointer held longer (a drag that
    // left the window, a release no one reported) no longer holds the list back.
    if (this.#pressed && Date.now() - this.#pressedAt < HOLD_MAX_MS) {
      this.#renderHeld = true;
      return;
    }
    const me = this.#me;
    if (!me) return;
    if (!can(me.role, "read_devices")) {
      this.#table.hidden = true;
      this.#count.textContent = "";
      say(this.#message, `Your role (${me.role}) does not list devices. Ask an admin if you need console access.`);
      return;
    }
    const shown = this.#shown();
    this.#count.textContent = this.#devices.length === 0 ? "" : `${shown.length} of ${this.#devices.length}`;
    if (this.#devices.length === 0) {
      this.#table.hidden = true;
      say(
        this.#message,
        can(me.role, "manage_devices")
          ? "No devices yet. Create one and enroll its agent: kvmctl devices create NAME, then kvmctl devices enroll-token DEVICE."
          : "No devices you can see yet. Ask an admin to add one, or to widen your scope.",
      );
      return;
    }
    say(this.#message, shown.length === 0 ? "No device matches the filter." : "");
    this.#table.hidden = shown.length === 0;
    const focused = document.activeElement?.closest?.("tr[data-device-id]") ? focusKey() : null;
    const now = Date.now();
    // A viewer opens a console too, view only: it watches and cannot ask for control.
    const canOpen = can(me.role, "console_view");
    const viewOnly = !can(me.role, "console_control");
    const openWhy = `Your role (${me.role}) may not open consoles.`;
    const rows = shown.map((d) =>
      deviceRow(d, {
        summary: this.#summaries.get(d.id) ?? null,
        canOpen,
        viewOnly,
        openWhy,
        // The API stops the sessions this user started, or every one for those who manage
        // devices.
        mayStop: (x) => x.principal === `${me.kind}:${me.id}` || can(me.role, "manage_devices"),
        busy: this.#busy.has(d.id),
        now,
      }),
    );
    this.#rows.replaceChildren(...rows);
    if (focused) restoreFocus(focused);
  }

  async #onClick(e) {
    const button = e.target.closest?.("button[data-action]");
    const row = button?.closest("tr[data-device-id]");
    if (!button || !row) return;
    const d = this.#devices.find((x) => x.id === row.dataset.deviceId);
    if (!d || this.#busy.has(d.id)) return;
    if (button.dataset.action === "open") {
      // Inside the click: openConsole opens its tab before its first await.
      const pending = openConsole(this.#api, d.id);
      await this.#withBusy(d, pending, (s) => `Console of ${d.name} opened in a new tab (session ${s?.id ?? "?"}).`, "could not be opened");
    } else if (button.dataset.action === "stop") {
      const s = this.#summaries.get(d.id)?.open.find((x) => x.id === button.dataset.sessionId);
      if (!s) return;
      const pending = this.#api.stopSession(s.id);
      await this.#withBusy(d, pending, () => `Stopped 1 console session of ${d.name} (${holder(s)}).`, "could not be stopped");
    } else if (button.dataset.action === "stop-all") {
      const mine = (x) => x.principal === `${this.#me.kind}:${this.#me.id}` || can(this.#me.role, "manage_devices");
      const listed = (this.#summaries.get(d.id)?.open ?? []).filter(mine);
      if (!(await confirmStopAll(d.name, listed.map((x) => sessionLine(x))))) return;
      const pending = this.#api.stopSessions(d.id);
      await this.#withBusy(d, pending, (r) => stoppedText(d, r?.stopped ?? 0, listed), "could not be stopped");
    }
  }

  async #withBusy(d, pending, done, failed) {
    this.#busy.add(d.id);
    this.#render();
    try {
      const r = await pending;
      this.#notice(done(r));
    } catch (err) {
      this.#notice(`The console of ${d.name} ${failed}: ${messageOf(err)}`, "error");
    } finally {
      this.#busy.delete(d.id);
    }
    await this.reload();
  }
}

function stoppedText(d, n, listed) {
  if (n === 0) return `No console of ${d.name} that you may stop was running.`;
  const who = [...new Set(listed.map(holder))].join(", ");
  return `Stopped ${n} console session${n === 1 ? "" : "s"} of ${d.name}${who ? ` (${who})` : ""}.`;
}

// What the filter searches: name, id, kind and gateway, labels, version and capabilities.
function searchText(d) {
  const c = capabilities(d.capabilities);
  return [d.name, d.id, d.kind, d.gateway_name, d.amt_guid, d.agent_version, d.online ? "online" : "offline", ...labels(d.labels), ...c.sources, ...c.sizes, ...c.codecs]
    .map((x) => String(x ?? ""))
    .join(" ");
}

// The focused button's device and action, so a reload does not steal a keyboard user's place.
function focusKey() {
  const b = document.activeElement;
  const row = b?.closest("tr[data-device-id]");
  return row && b.dataset.action ? { id: row.dataset.deviceId, action: b.dataset.action } : null;
}

function restoreFocus(key) {
  for (const row of document.querySelectorAll("tr[data-device-id]")) {
    if (row.dataset.deviceId !== key.id) continue;
    (row.querySelector(`button[data-action="${key.action}"]`) ?? row.querySelector('button[data-action="open"]'))?.focus({ preventScroll: true });
  }
}

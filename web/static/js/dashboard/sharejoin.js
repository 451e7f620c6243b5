// Opening a console a colleague shared (/console/#share=<token>, routed here as /#share=…): the
// link works for members of the sharer's organization, signed in. The token waits in this
// tab's sessionStorage while the person signs in (a reload of the sign-in form keeps it), is
// traded for a one-time console link at POST /api/v1/shares/join, and the page goes there.
import { byId, say } from "./dom.js";
import { messageOf } from "./errors.js";
import { consoleURL } from "./consoles.js";

const PENDING_KEY = "kvmrelay.dashboard.share";

// The share link waiting for a sign-in in this tab: in sessionStorage, so that reloading the
// sign-in form keeps it, and in the page where storage is disabled.
class PendingShare {
  #memory = null;

  get() {
    try {
      return sessionStorage.getItem(PENDING_KEY) || this.#memory;
    } catch {
      return this.#memory;
    }
  }

  set(token) {
    this.#memory = token;
    try {
      sessionStorage.setItem(PENDING_KEY, token);
    } catch {
      // no storage: the token lives in the page only (a reload loses it)
    }
  }

  clear() {
    this.#memory = null;
    try {
      sessionStorage.removeItem(PENDING_KEY);
    } catch {
      // nothing stored
    }
  }
}

/** The share link waiting for a sign-in in this tab, if any. */
export const pendingShare = new PendingShare();

// Whether the relay's sentence already tells the person what to do next.
function saysWhatToDo(text) {
  return /\b(ask|sign in|check|open it)\b/i.test(text);
}

export class ShareJoinView {
  #api;
  #onDevices;
  #onSwitch;
  #navigate;
  #token = "";
  #title = byId("share-title");
  #status = byId("share-status");
  #spinner = byId("share-spinner");
  #error = byId("share-error");
  #retry = byId("share-retry");
  #devices = byId("share-devices");
  #other = byId("share-other");

  /**
   * api: Api. onDevices(): to the device list. onSwitch(token): sign in as someone else, the
   * link kept. navigate(url): leaves for the console (a test may watch it).
   */
  constructor({ api, onDevices, onSwitch, navigate = (url) => window.location.assign(url) }) {
    this.#api = api;
    this.#onDevices = onDevices;
    this.#onSwitch = onSwitch;
    this.#navigate = navigate;
    this.#retry.addEventListener("click", () => this.join(this.#token));
    this.#devices.addEventListener("click", () => this.#onDevices());
    this.#other.addEventListener("click", () => this.#onSwitch(this.#token));
  }

  /** Joins the shared console of token, signed in as me (GET /me). */
  async join(token, me = null) {
    this.#token = token;
    this.#title.textContent = "Opening a shared console";
    this.#status.textContent = "Asking the relay for a view of the shared console…";
    this.#spinner.hidden = false;
    say(this.#error, "");
    for (const b of [this.#retry, this.#devices, this.#other]) b.hidden = true;
    this.#retry.disabled = true;
    let answer;
    try {
      answer = await this.#api.joinShare(token);
    } catch (err) {
      this.#failed(err, me);
      return;
    } finally {
      this.#retry.disabled = false;
    }
    const url = consoleURL(answer?.console_url);
    if (!url) {
      this.#failed(null, me);
      return;
    }
    pendingShare.clear();
    const device = typeof answer.device_name === "string" && answer.device_name ? answer.device_name : "the device";
    const by = typeof answer.shared_by === "string" && answer.shared_by ? `, shared by ${answer.shared_by}` : "";
    this.#title.textContent = "Opening the console";
    this.#status.textContent = `Opening the console of ${device}${by} (view only)…`;
    this.#navigate(url);
  }

  #failed(err, me) {
    this.#spinner.hidden = true;
    this.#title.textContent = "Could not open the shared console";
    this.#status.textContent = "";
    const status = err?.status ?? 0;
    const dead = status === 410 || status === 404;
    if (!err) {
      say(this.#error, "The relay answered with something this page does not understand. Try again in a moment.");
    } else if (dead) {
      // The link is spent (revoked, expired, its session ended) or not this organization's.
      const who = typeof err.details?.shared_by === "string" && err.details.shared_by ? err.details.shared_by : "the person who shared it";
      let text = messageOf(err);
      if (!saysWhatToDo(text)) text = `${text} Ask ${who} for a new link.`;
      // A link of another organization is unknown in this one: say which one this is.
      if (status === 404 && me?.org_slug) text += ` You are signed in to ${me.org_slug}.`;
      say(this.#error, text);
    } else {
      say(this.#error, messageOf(err));
    }
    if (dead) pendingShare.clear();
    // What to do next: try again when it may pass; else the devices, or another account.
    this.#retry.hidden = dead || status === 403;
    this.#devices.hidden = !me || !!me.mfa_enrollment_required;
    this.#other.hidden = status !== 404;
    [this.#retry, this.#devices, this.#other].find((b) => !b.hidden)?.focus();
  }
}

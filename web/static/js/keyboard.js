// Keyboard capture: physical keys (KeyboardEvent.code) become KEY messages on the reliable
// `hid` channel. Only keys typed while the remote screen has focus are taken; the toolbar and
// dialogs keep their normal keyboard behaviour. A key-up is always sent for a key whose
// key-down was sent, wherever the focus went in between, so no key stays held on the remote.
import { usageFor } from "./keymap.js";
import * as proto from "./hidproto.js";

const MAC = /^Mac/.test(navigator.platform);

function isMeta(code) {
  return code === "MetaLeft" || code === "MetaRight";
}

export class Keyboard {
  #link;
  #inZone;
  #isActive;
  #mayShortcut;
  #shortcut;
  #onKeyDownSent;
  #beforeKeyDown;
  #held = new Map(); // code → usage of keys whose key-down reached the remote

  /**
   * link: HidLink. inZone(target): whether a key event aimed at target belongs to the remote.
   * isActive(): whether keys go to the remote (connected, and in control of a shared session).
   * mayShortcut(): whether the page's own shortcuts work (connected; by default isActive: a
   * console that watches keeps them while its keys stay local). shortcut(event): "local" when the page
   * handled a shortcut itself, "browser" when the browser should act on it (paste), otherwise
   * null. onKeyDownSent(timeStamp): a key-down went out (the latency meter counts them).
   * beforeKeyDown(timeStamp): a key-down is about to go out (the input → first change probe
   * goes first, so the agent watches before the key can change the screen).
   */
  constructor({ link, inZone, isActive, mayShortcut = isActive, shortcut, onKeyDownSent, beforeKeyDown = () => {} }) {
    this.#link = link;
    this.#inZone = inZone;
    this.#isActive = isActive;
    this.#mayShortcut = mayShortcut;
    this.#shortcut = shortcut;
    this.#onKeyDownSent = onKeyDownSent;
    this.#beforeKeyDown = beforeKeyDown;
  }

  start() {
    // Capture phase on window: the page sees keys before any element can act on them.
    window.addEventListener("keydown", (e) => this.#down(e), true);
    window.addEventListener("keyup", (e) => this.#up(e), true);
    const release = () => this.releaseAll();
    window.addEventListener("blur", release);
    window.addEventListener("pagehide", release);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") release();
    });
  }

  /** Presses (down) or releases a key on the remote. */
  sendKey(usage, down, timeStamp = performance.now()) {
    if (down && this.#link.canInput) this.#beforeKeyDown(timeStamp);
    if (!this.#link.sendHid(proto.key(usage, down))) return false;
    if (down) this.#onKeyDownSent(timeStamp);
    return true;
  }

  /** Releases everything on the remote and forgets what was held. */
  releaseAll() {
    this.#held.clear();
    this.#link.releaseAll();
  }

  /** Forgets held keys without telling anyone: the connection they were held on is gone, and
   * the agent releases them itself when its channel closes. */
  reset() {
    this.#held.clear();
  }

  #down(e) {
    if (!this.#mayShortcut() || !this.#inZone(e.target)) return;
    const verdict = this.#shortcut(e);
    if (verdict === "browser") return;
    if (verdict === "local") {
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    // Watching a shared session: keys keep their local meaning (no capture).
    if (!this.#isActive()) return;
    const usage = usageFor(e.code);
    if (usage === null) return; // unknown keys keep their local meaning
    e.preventDefault();
    e.stopPropagation();
    // Auto-repeat is the remote's job: it repeats a held key itself, as with a real keyboard.
    if (e.repeat || this.#held.has(e.code)) return;
    if (!this.sendKey(usage, true, e.timeStamp)) return;
    if (MAC && e.metaKey && !isMeta(e.code)) {
      // macOS sends no keyup for a key pressed while ⌘ is held, so tap it at once.
      this.sendKey(usage, false);
      return;
    }
    this.#held.set(e.code, usage);
  }

  #up(e) {
    const usage = this.#held.get(e.code);
    if (usage === undefined) return;
    e.preventDefault();
    e.stopPropagation();
    this.#held.delete(e.code);
    this.sendKey(usage, false);
  }
}

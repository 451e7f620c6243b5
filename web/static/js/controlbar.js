// The control bar floats over the bottom of the picture on a shared machine, in one of four
// modes:
//   watching — "Watching — Alice is in control", with Request control (and Take control… for
//              an admin); "You are watching (view only)" for a view grant;
//   waiting  — "Waiting for Alice… (25 s)" with Cancel, while this console's request is pending;
//   prompt   — "Bob asks for control", the seconds left, Decline and Approve, for the one in
//              control (announced at once to screen readers; it takes no focus from typing);
//   hidden   — in control with nothing to answer, or no roster at all.
// It also asks before an admin takes control ("Take control from Alice? They will be told.").
import { displayName } from "./participants.js";

const el = (id) => document.getElementById(id);

export class ControlBar {
  #bar = el("control-bar");
  #text = el("control-text");
  #left = el("control-left");
  #request = el("btn-request");
  #cancel = el("btn-cancel-request");
  #take = el("btn-take");
  #approve = el("btn-approve");
  #decline = el("btn-decline");
  #dialog = el("take-dialog");
  #dialogTitle = el("take-title");
  #actions;
  #onClose;
  #mode = "hidden";

  /** actions: {request(), cancel(), take(), approve(), decline(), askTake()}. onClose(): the
   * keyboard focus goes back to the screen. */
  constructor(actions, onClose) {
    this.#actions = actions;
    this.#onClose = onClose;
  }

  start() {
    const after = (fn) => () => {
      fn();
      this.#onClose();
    };
    this.#request.addEventListener("click", () => this.#actions.request());
    this.#cancel.addEventListener("click", () => this.#actions.cancel());
    this.#take.addEventListener("click", () => this.#actions.askTake());
    this.#approve.addEventListener("click", after(() => this.#actions.approve()));
    this.#decline.addEventListener("click", after(() => this.#actions.decline()));
    // Decided when a button submits the form, as in the power dialog: the close event comes
    // later and may belong to an earlier opening.
    this.#dialog.querySelector("form").addEventListener("submit", (e) => {
      if (e.submitter?.value === "take") this.#actions.take();
    });
    this.#dialog.addEventListener("close", () => this.#onClose());
  }

  /** The bar's mode: hidden, watching, waiting or prompt. */
  get mode() {
    return this.#mode;
  }

  /** Asks before taking control from controller (a name). */
  confirmTake(controller) {
    this.#dialogTitle.textContent = `Take control from ${displayName(controller)}?`;
    this.#dialog.returnValue = "";
    if (!this.#dialog.open) this.#dialog.showModal();
  }

  /** Whether the take dialog is open. */
  get taking() {
    return this.#dialog.open;
  }

  /** Closes the take dialog without taking (control moved meanwhile). */
  dismissTake() {
    if (this.#dialog.open) this.#dialog.close("cancel");
  }

  /** Puts the keyboard focus on the prompt's first answer; false when there is no prompt. */
  focusPrompt() {
    if (this.#mode !== "prompt") return false;
    this.#approve.focus();
    return true;
  }

  /** Hides the bar: no roster. */
  clear() {
    this.#show("hidden");
  }

  /** render(view): view from Sharing — {pos: position(), secondsLeft}. */
  render({ pos, secondsLeft }) {
    const controller = pos.controller ? displayName(pos.controller.name) : null;
    const mayTake = pos.isAdmin && !!controller;
    if (pos.inControl) {
      if (!pos.request?.toAnswer) return this.#show("hidden");
      const from = displayName(pos.request.from.name);
      this.#approve.setAttribute("aria-label", `Approve: give control to ${from}`);
      this.#decline.setAttribute("aria-label", `Decline ${from}'s request`);
      return this.#show("prompt", `${from} asks for control`, `${secondsLeft} s left`, [this.#decline, this.#approve]);
    }
    if (pos.request?.mine) {
      const buttons = mayTake ? [this.#cancel, this.#take] : [this.#cancel];
      return this.#show("waiting", `Waiting for ${controller ?? "an answer"}…`, `(${secondsLeft} s)`, buttons);
    }
    if (!pos.mayControl) {
      return this.#show("watching", controller ? `You are watching (view only) — ${controller} is in control` : "You are watching (view only)");
    }
    const asked = pos.request ? `· ${displayName(pos.request.from.name)} asked for control` : "";
    const buttons = mayTake ? [this.#take, this.#request] : [this.#request];
    return this.#show("watching", controller ? `Watching — ${controller} is in control` : "Watching — nobody is in control", asked, buttons);
  }

  // Shows a mode with its text and buttons. Each button's hidden is set once, so that a
  // re-render (every second while a request is pending) never takes the focus from one.
  #show(mode, text = "", left = "", buttons = []) {
    this.#mode = mode;
    this.#bar.hidden = mode === "hidden";
    this.#bar.dataset.mode = mode;
    document.body.classList.toggle("control-bar-shown", mode !== "hidden");
    // A request to answer is announced at once; the rest politely. The seconds are not in the
    // live region: they would be read out every second.
    this.#text.setAttribute("aria-live", mode === "prompt" ? "assertive" : "polite");
    if (this.#text.textContent !== text) this.#text.textContent = text;
    if (this.#left.textContent !== left) this.#left.textContent = left;
    for (const b of [this.#request, this.#cancel, this.#take, this.#approve, this.#decline]) b.hidden = !buttons.includes(b);
  }
}

// User consent (Intel AMT): the managed machine shows a 6-digit code on its own screen, and the
// person at this console types it here before the picture comes. The agent reports each step
// in `consent` messages ({state, expires_at, error, attempts}); the code goes back in a
// `consent-code` message. The window's countdown runs here from expires_at.

/** consentCode(typed): the 6 digits of what was typed ("123 456", "123-456"), or null. */
export function consentCode(typed) {
  const digits = String(typed).replace(/[\s-]/g, "");
  return /^[0-9]{6}$/.test(digits) ? digits : null;
}

/** countdown(ms): "4:05" for what is left of the window. */
export function countdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class Consent {
  #dialog = document.getElementById("consent-dialog");
  #input = document.getElementById("consent-code");
  #left = document.getElementById("consent-left");
  #error = document.getElementById("consent-error");
  #submit = document.getElementById("consent-submit");
  #cancelButton = document.getElementById("consent-cancel");
  #watch = document.getElementById("consent-watch");
  #allowed = true;
  #send;
  #cancel;
  #onClose;
  #expires = 0;
  #timer = 0;
  #state = "none";

  /** send(code): hands a code to the agent. cancel(): withdraws the request. onClose: focus back. */
  constructor({ send, cancel, onClose }) {
    this.#send = send;
    this.#cancel = cancel;
    this.#onClose = onClose;
  }

  get state() {
    return this.#state;
  }

  start() {
    this.#input.addEventListener("input", () => this.#refresh());
    this.#dialog.addEventListener("cancel", (e) => e.preventDefault()); // Escape keeps the prompt
    this.#dialog.querySelector("form").addEventListener("submit", (e) => {
      e.preventDefault();
      const action = e.submitter?.value;
      if (!this.#allowed) return;
      if (action === "cancel-request") {
        this.#cancel();
        this.#error.textContent = "Cancelling the consent request…";
        return;
      }
      const code = consentCode(this.#input.value);
      if (!code || !this.#allowed) return;
      this.#send(code);
      this.#submit.disabled = true;
      this.#error.textContent = "Checking the code with the machine…";
    });
  }

  /** update(msg): one `consent` message from the agent. */
  update(msg) {
    this.#state = String(msg?.state ?? "none");
    switch (this.#state) {
      case "required":
        this.#expires = Date.parse(msg.expires_at) || Date.now();
        this.#error.textContent = msg.error
          ? `The machine refused the code (${msg.error}). Check the code on its screen and try again.`
          : "";
        this.#refresh();
        if (msg.error) this.#input.select();
        this.#open();
        break;
      case "accepted":
        this.#close();
        break;
      case "expired":
      case "cancelled":
      case "none":
        this.#close();
        break;
    }
  }

  /**
   * allow(yes, controller): whether this console may answer the prompt. On a shared machine
   * only the participant in control (controller: their name, or null) types the code; the
   * others see the prompt, disabled, and who can answer it.
   */
  allow(yes, controller) {
    this.#allowed = yes;
    this.#input.disabled = !yes;
    this.#cancelButton.disabled = !yes;
    this.#watch.hidden = yes;
    this.#watch.textContent = yes
      ? ""
      : controller
        ? `Only the person in control can enter the code: ${controller} is in control.`
        : "Only the person in control can enter the code: request control first.";
    this.#refresh();
  }

  #refresh() {
    this.#submit.disabled = !this.#allowed || consentCode(this.#input.value) === null;
  }

  /** dismiss(): the session ended; the prompt goes without a word (the overlay says why). */
  dismiss() {
    this.#state = "none";
    this.#close();
  }

  #open() {
    this.#tick();
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#tick(), 1000);
    if (!this.#dialog.open) {
      this.#input.value = "";
      this.#dialog.showModal();
      this.#input.focus();
    }
  }

  #tick() {
    const left = this.#expires - Date.now();
    this.#left.textContent = left > 0 ? `The code is valid for ${countdown(left)} more.` : "The code's time is up.";
  }

  #close() {
    clearInterval(this.#timer);
    this.#timer = 0;
    if (this.#dialog.open) {
      this.#dialog.close();
      this.#onClose();
    }
  }
}

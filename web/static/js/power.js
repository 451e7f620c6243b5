// Out-of-band power (Intel AMT): the agent reports the machine's power state and the actions
// its source can take in `power` messages; a `power-action` message asks for one. Anything
// but "Power on" asks first: a reset loses whatever the machine was doing.
const LABELS = { on: "Power on", reset: "Reset", cycle: "Power cycle", off: "Power off" };
const STATES = { on: "On", off: "Off", sleep: "Asleep", unknown: "Unknown" };
const WARNINGS = {
  reset: "The machine restarts at once, as with its reset button: unsaved work is lost.",
  cycle: "The machine is switched off and on again at once: unsaved work is lost.",
  off: "The machine is switched off at once, as when its power button is held: unsaved work is lost.",
};

export class Power {
  #button = document.getElementById("btn-power");
  #menu = document.getElementById("power-menu");
  #stateText = document.getElementById("power-state");
  #items = document.getElementById("power-items");
  #dialog = document.getElementById("power-dialog");
  #title = document.getElementById("power-title");
  #warning = document.getElementById("power-warning");
  #confirm = document.getElementById("power-confirm");
  #send;
  #toast;
  #state = "unknown";
  #pending = null;

  /** send(action): asks the agent; toast(text): tells the person. */
  constructor({ send, toast }) {
    this.#send = send;
    this.#toast = toast;
  }

  get state() {
    return this.#state;
  }

  start() {
    this.#items.addEventListener("click", (e) => {
      const action = e.target.closest("[data-power]")?.dataset.power;
      if (!action) return;
      this.#menu.hidePopover?.();
      if (action === "on") this.#ask("on");
      else this.#confirmFirst(action);
    });
    // Decided when a button submits the form (synchronously, with its value), not on the
    // "close" event, which comes later and may belong to an earlier opening.
    this.#dialog.querySelector("form").addEventListener("submit", (e) => {
      if (e.submitter?.value === "confirm" && this.#pending) this.#ask(this.#pending);
      this.#pending = null;
    });
  }

  /** update(msg): one `power` message from the agent. */
  update(msg) {
    const actions = Array.isArray(msg?.actions) ? msg.actions.filter((a) => a in LABELS) : [];
    this.#state = msg?.state in STATES ? msg.state : "unknown";
    this.#button.hidden = actions.length === 0 && this.#button.hidden;
    if (actions.length > 0) {
      this.#button.hidden = false;
      this.#items.replaceChildren(
        ...actions.map((a) => {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "menu-item";
          b.setAttribute("role", "menuitem");
          b.dataset.power = a;
          b.textContent = a === "on" ? LABELS[a] : `${LABELS[a]}…`;
          b.disabled = (a === "on" && this.#state === "on") || (a !== "on" && this.#state === "off");
          return b;
        }),
      );
    }
    this.#stateText.textContent = `Machine power: ${STATES[this.#state]}`;
    this.#button.dataset.state = this.#state;
    if (msg?.action) {
      this.#toast(msg.error ? `${LABELS[msg.action] ?? msg.action} failed: ${msg.error}` : `${LABELS[msg.action] ?? msg.action}: done. The machine is ${STATES[this.#state].toLowerCase()}.`);
    } else if (this.#state === "off") {
      this.#toast("The machine is powered off. Use the power menu in the toolbar to power it on.");
    }
  }

  /** Closes the confirmation without acting (this console lost control of the machine). */
  dismiss() {
    this.#pending = null;
    if (this.#dialog.open) this.#dialog.close("cancel");
  }

  #confirmFirst(action) {
    this.#pending = action;
    this.#title.textContent = `${LABELS[action]} the machine?`;
    this.#warning.textContent = WARNINGS[action];
    this.#confirm.textContent = LABELS[action];
    this.#dialog.returnValue = "";
    this.#dialog.showModal();
  }

  #ask(action) {
    this.#send(action);
    this.#toast(`${LABELS[action]}: asked the machine…`);
  }
}

// The remote machine's keyboard layout, chosen in the key menu and remembered per device: the
// agent types pasted text through it and a VNC target gets the keysyms it produces
// (docs/protocol.md §2, LAYOUT). The physical keys a person presses are sent as they are.
import * as proto from "./hidproto.js";

const STORE = "kvmrelay.layout.";
const DEFAULT = "en-US";

export class LayoutChoice {
  #select = document.getElementById("layout-select");
  #pasteName = document.getElementById("paste-layout");
  #link;
  #device = "";

  /** link: HidLink, to tell the agent. */
  constructor(link) {
    this.#link = link;
    this.#select.addEventListener("change", () => {
      this.#remember(this.#select.value);
      this.send();
    });
    // The menu's arrow keys move between its items; inside the list they choose a layout.
    this.#select.addEventListener("keydown", (e) => e.stopPropagation());
  }

  /** The device the console shows: its remembered layout is selected. */
  set device(name) {
    this.#device = name ?? "";
    let saved = null;
    try {
      saved = localStorage.getItem(STORE + this.#device);
    } catch {
      saved = null; // storage disabled: the choice lasts for this page
    }
    this.#show(saved && [...this.#select.options].some((o) => o.value === saved) ? saved : DEFAULT);
  }

  get name() {
    return this.#select.value || DEFAULT;
  }

  /** Tells the agent (when the hid channel opens, and on every change). */
  send() {
    this.#link.sendHid(proto.layout(this.name));
  }

  #remember(name) {
    this.#show(name);
    try {
      localStorage.setItem(STORE + this.#device, name);
    } catch {
      // storage disabled
    }
  }

  #show(name) {
    this.#select.value = name;
    this.#pasteName.textContent = this.#select.selectedOptions[0]?.textContent ?? name;
  }
}

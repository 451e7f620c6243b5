// Paste as keystrokes: the text goes to the agent in TEXT messages and the agent types it with
// its keyboard layout. Two ways in: the toolbar's dialog, and the browser's own paste
// (Ctrl+Shift+V or ⌘V over the remote screen), which hands the clipboard text to the page.
import { textMessages } from "./hidproto.js";

// Typing happens at keyboard speed on the device; a novel pasted by accident would keep it busy
// for an hour. A few pages is plenty for passwords, commands and config snippets.
export const PASTE_MAX_CHARS = 20000;

export class Paste {
  #dialog = document.getElementById("paste-dialog");
  #text = document.getElementById("paste-text");
  #count = document.getElementById("paste-count");
  #send = document.getElementById("paste-send");
  #type;
  #onClose;

  /** type(text): sends the text, returns a message for the person. onClose: the dialog closed. */
  constructor({ type, onClose }) {
    this.#type = type;
    this.#onClose = onClose;
  }

  start() {
    this.#text.maxLength = PASTE_MAX_CHARS;
    this.#text.addEventListener("input", () => this.#refresh());
    this.#text.addEventListener("keydown", (e) => {
      // Ctrl+Enter types, as in chat boxes; plain Enter is a newline in the text.
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !this.#send.disabled) {
        e.preventDefault();
        this.#dialog.close("send");
      }
    });
    this.#dialog.addEventListener("close", () => {
      // A close delivered after the dialog opened again belongs to the earlier opening.
      if (this.#dialog.open) return;
      if (this.#dialog.returnValue === "send" && this.#text.value) this.#type(this.#text.value);
      this.#text.value = "";
      this.#refresh();
      this.#onClose();
    });
  }

  get isOpen() {
    return this.#dialog.open;
  }

  /** Closes the dialog without typing (this console lost control of the machine). */
  close() {
    if (this.#dialog.open) this.#dialog.close("cancel");
  }

  open() {
    this.#dialog.returnValue = "";
    this.#refresh();
    this.#dialog.showModal();
    this.#text.focus();
  }

  #refresh() {
    const n = [...this.#text.value].length;
    this.#count.textContent = n === 1 ? "1 character" : `${n.toLocaleString()} characters`;
    this.#send.disabled = n === 0;
  }
}

/** Sends text as TEXT messages over the link; returns how many characters went out. */
export function sendText(link, text) {
  const clipped = [...text].slice(0, PASTE_MAX_CHARS).join("");
  for (const m of textMessages(clipped)) {
    if (!link.sendHid(m)) return 0;
  }
  return [...clipped].length;
}

// A machine with several screens (Intel AMT shows one at a time): the agent lists them in a
// `displays` message and the toolbar's picker sends `display-select`; the picture follows after
// the agent reconnects to the chosen screen.
export class Displays {
  #select = document.getElementById("display-select");
  #send;
  #toast;

  /** send(index): asks the agent; toast(text): tells the person. */
  constructor({ send, toast }) {
    this.#send = send;
    this.#toast = toast;
  }

  start() {
    this.#select.addEventListener("change", () => {
      const index = Number(this.#select.value);
      if (!Number.isInteger(index)) return;
      this.#send(index);
      this.#toast(`Switching to screen ${index + 1}: the console reconnects to the machine, which may ask for consent again.`);
    });
  }

  /** update(msg): one `displays` message. */
  update(msg) {
    const list = Array.isArray(msg?.displays) ? msg.displays.filter((d) => Number.isInteger(d?.index)) : [];
    this.#select.hidden = list.length < 2;
    this.#select.replaceChildren(
      ...list.map((d) => {
        const o = document.createElement("option");
        o.value = String(d.index);
        const size = d.width > 0 && d.height > 0 ? ` · ${d.width}×${d.height}` : "";
        o.textContent = `Screen ${d.index + 1}${d.role ? ` (${d.role})` : ""}${size}`;
        o.selected = d.current === true;
        return o;
      }),
    );
  }
}

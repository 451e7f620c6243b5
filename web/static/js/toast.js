// A short message at the bottom of the window that goes away by itself.
const SHOW_MS = 3200;

export class Toast {
  #el = document.getElementById("toast");
  #timer = 0;

  show(text) {
    this.#el.textContent = text;
    this.#el.classList.add("shown");
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#el.classList.remove("shown"), SHOW_MS);
  }
}

// The toolbar stays out of the way while the console is live: it slides in when the pointer
// reaches the top edge where it lives (or the keyboard focus enters it, or a menu is open) and
// leaves a moment after the pointer goes. While the console is not live it stays shown.
const EDGE_PX = 56;
const SIDE_SLACK_PX = 48;
const HIDE_AFTER_MS = 1200;
const INTRO_MS = 2500;

export class Toolbar {
  #bar = document.getElementById("toolbar");
  #menu = document.getElementById("keys-menu");
  // Every popover a toolbar button opens (key combinations, power, people), with its button.
  #popovers = [...this.#bar.querySelectorAll("[popovertarget]")].map((button) => ({
    button,
    menu: document.getElementById(button.getAttribute("popovertarget")),
  }));
  #pinned = true;
  #nearEdge = false;
  #timer = 0;
  #introUntil = 0;

  start() {
    const track = (e) => {
      const near = this.#overBar(e) || this.#bar.contains(e.target) || this.#popovers.some((p) => p.menu.contains(e.target));
      if (near !== this.#nearEdge) {
        this.#nearEdge = near;
        this.#update();
      }
    };
    document.addEventListener("pointermove", track);
    document.addEventListener("pointerdown", track); // a tap on a touch screen

    document.documentElement.addEventListener("pointerleave", () => {
      this.#nearEdge = false;
      this.#update();
    });
    this.#bar.addEventListener("focusin", () => this.#update());
    this.#bar.addEventListener("focusout", () => queueMicrotask(() => this.#update()));
    for (const { button, menu } of this.#popovers) {
      menu.addEventListener("toggle", () => this.#update());
      menu.addEventListener("beforetoggle", (e) => {
        if (e.newState === "open") this.#place(menu, button);
      });
    }
    this.#menu.addEventListener("keydown", (e) => this.#menuKeys(e));
    this.#update();
  }

  /** Pinned: always shown (the console is not live). Unpinning shows it briefly first, so a
   * newcomer sees where it went. */
  set pinned(on) {
    if (on === this.#pinned) return;
    this.#pinned = on;
    if (!on) {
      this.#introUntil = performance.now() + INTRO_MS;
      setTimeout(() => this.#update(), INTRO_MS + 10);
    }
    this.#update();
  }

  /** Shows the toolbar and puts the keyboard focus on its first control. */
  focus() {
    this.#bar.querySelector("button:not(:disabled)")?.focus();
    this.#update();
  }

  /** Closes the menus that act on the machine (key combinations, power) if they are open. */
  closeMenu() {
    for (const { menu } of this.#popovers) {
      if (menu.id !== "people-panel" && menu.matches(":popover-open")) menu.hidePopover();
    }
  }

  #update() {
    const wanted =
      this.#pinned ||
      this.#nearEdge ||
      performance.now() < this.#introUntil ||
      this.#bar.matches(":focus-within") ||
      this.#popovers.some((p) => p.menu.matches(":popover-open"));
    clearTimeout(this.#timer);
    if (wanted) {
      document.body.classList.add("toolbar-shown");
    } else {
      this.#timer = setTimeout(() => document.body.classList.remove("toolbar-shown"), HIDE_AFTER_MS);
    }
  }

  // Whether the pointer is at the top edge, above the toolbar (give or take a little): the rest
  // of the edge stays free for the remote screen's own top bar.
  #overBar(e) {
    if (e.clientY > EDGE_PX) return false;
    const r = this.#bar.getBoundingClientRect();
    return e.clientX >= r.left - SIDE_SLACK_PX && e.clientX <= r.right + SIDE_SLACK_PX;
  }

  // Places a menu under its button, kept inside the window. The top comes from the toolbar's
  // layout box, not its button's rectangle: a menu opened while the bar is still sliding in
  // (or hidden, opened from a script) lands where the shown bar ends.
  #place(menu, button) {
    const r = button.getBoundingClientRect();
    const width = Math.max(menu.offsetWidth, 220);
    const left = Math.min(Math.max(8, r.left), window.innerWidth - width - 8);
    menu.style.left = `${left}px`;
    menu.style.top = `${this.#bar.offsetTop + this.#bar.offsetHeight + 8}px`;
  }

  // Arrow keys move between the menu's items, as in any menu.
  #menuKeys(e) {
    const items = [...this.#menu.querySelectorAll("[role=menuitem]")];
    const i = items.indexOf(document.activeElement);
    let next = -1;
    if (e.key === "ArrowDown" || e.key === "ArrowRight") next = (i + 1) % items.length;
    else if (e.key === "ArrowUp" || e.key === "ArrowLeft") next = (i - 1 + items.length) % items.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = items.length - 1;
    if (next < 0) return;
    e.preventDefault();
    items[next].focus();
  }
}

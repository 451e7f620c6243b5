// Mouse and touch input over the remote screen.
//
// Absolute mode (the default): positions are mapped through the video's content rectangle and
// sent as POINTER_ABS on the unreliable `pointer` channel, at most once per animation frame —
// only the newest position matters. Button changes go as BUTTONS on the reliable `hid`
// channel with their position, so a click is never lost and lands where it was made.
//
// Relative mode (for BIOS screens and other targets without an absolute pointer): the pointer
// is locked to the page and raw motion is sent as POINTER_REL on `hid`.
import * as proto from "./hidproto.js";
import { mapPointer } from "./geometry.js";

// Wheel units: one step is one notch of a common mouse wheel.
const PIXELS_PER_STEP = 100;
const LINES_PER_STEP = 3;

export class Pointer {
  #video;
  #surface;
  #link;
  #isActive;
  #onLockChange;
  #relative = false;
  #seq = 0;
  #sentMask = 0; // the button mask the agent last heard
  #pending = null; // newest unsent client position {x, y}
  #relDx = 0;
  #relDy = 0;
  #frame = 0;
  #wheelX = 0;
  #wheelY = 0;
  #last = null; // last sent absolute position

  /**
   * video: the <video> showing the remote screen. surface: the element receiving pointer
   * events (the video's container). link: HidLink. isActive(): connected. onLockChange(locked):
   * pointer lock was taken or lost.
   */
  constructor({ video, surface, link, isActive, onLockChange }) {
    this.#video = video;
    this.#surface = surface;
    this.#link = link;
    this.#isActive = isActive;
    this.#onLockChange = onLockChange;
  }

  start() {
    const s = this.#surface;
    s.addEventListener("pointerdown", (e) => this.#button(e));
    s.addEventListener("pointerup", (e) => this.#button(e));
    s.addEventListener("pointermove", (e) => this.#move(e));
    s.addEventListener("pointercancel", (e) => this.#button(e));
    // Back/forward buttons navigate the tab and the middle button starts autoscroll unless the
    // mouse events' defaults are prevented, not only the pointer events'.
    s.addEventListener("mousedown", (e) => e.preventDefault());
    s.addEventListener("mouseup", (e) => e.preventDefault());
    s.addEventListener("auxclick", (e) => e.preventDefault());
    s.addEventListener("contextmenu", (e) => e.preventDefault());
    s.addEventListener("wheel", (e) => this.#wheel(e), { passive: false });
    document.addEventListener("pointerlockchange", () => this.#onLockChange(this.locked));
  }

  get relative() {
    return this.#relative;
  }

  /** Switches between absolute and relative mode. Relative mode takes the pointer lock at the
   * next click on the screen (browsers only grant it from a user gesture). */
  set relative(on) {
    this.#relative = on;
    if (!on && this.locked) document.exitPointerLock();
    this.#pending = null;
    this.#last = null;
  }

  get locked() {
    return document.pointerLockElement === this.#surface;
  }

  /** Lets go of every button (the agent hears RELEASE_ALL separately). */
  reset() {
    this.#sentMask = 0;
    this.#pending = null;
    this.#last = null;
  }

  #button(e) {
    if (!this.#isActive()) return;
    if (e.type === "pointerdown") {
      this.#surface.focus({ preventScroll: true });
      if (this.#relative && !this.locked) {
        this.#lock();
        return; // the click that takes the lock is not a click on the remote
      }
      // Keep receiving the drag when it leaves the element (not needed, and refused, under lock).
      if (!this.locked) this.#surface.setPointerCapture(e.pointerId);
    }
    e.preventDefault();
    this.#sync(e);
  }

  #move(e) {
    if (!this.#isActive()) return;
    if (this.#relative) {
      if (!this.locked) return;
      this.#relDx += e.movementX;
      this.#relDy += e.movementY;
    } else {
      this.#pending = { x: e.clientX, y: e.clientY };
    }
    // A second button pressed while one is held arrives as a move with new buttons.
    if ((e.buttons & proto.BUTTON_MASK) !== this.#sentMask) this.#sync(e);
    else this.#schedule();
  }

  // Sends the button mask of the event if the agent does not know it yet.
  #sync(e) {
    const mask = e.type === "pointercancel" ? 0 : e.buttons & proto.BUTTON_MASK;
    if (mask === this.#sentMask) return;
    if (this.#relative) {
      this.#flushRelative(); // motion before the click lands before it
      if (this.#link.sendHid(proto.buttons(mask))) this.#sentMask = mask;
      return;
    }
    // A press over a letterbox bar clicks nothing; a release is always delivered (clamped to
    // the picture's edge) so that no button stays held.
    const pressing = (mask & ~this.#sentMask) !== 0;
    const pos = mapPointer(this.#video, e.clientX, e.clientY, !pressing || this.#sentMask !== 0);
    if (!pos) return;
    // The press carries its position, so a move still waiting would only arrive late.
    this.#pending = null;
    if (this.#link.sendHid(proto.buttons(mask, pos.x, pos.y))) {
      this.#sentMask = mask;
      this.#last = pos;
    }
  }

  #schedule() {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      if (this.#relative) this.#flushRelative();
      else this.#flushAbsolute();
    });
  }

  #flushAbsolute() {
    const p = this.#pending;
    this.#pending = null;
    if (!p) return;
    // While a button is held the drag keeps going past the picture's edge, clamped.
    const pos = mapPointer(this.#video, p.x, p.y, this.#sentMask !== 0);
    if (!pos || (this.#last && pos.x === this.#last.x && pos.y === this.#last.y)) return;
    this.#seq = (this.#seq + 1) & 0xffff;
    if (this.#link.sendPointer(proto.pointerAbs(this.#seq, this.#sentMask, pos.x, pos.y))) {
      this.#last = pos;
    }
  }

  #flushRelative() {
    // POINTER_REL carries 16-bit deltas; a huge jump goes out in several messages.
    while (this.#relDx !== 0 || this.#relDy !== 0) {
      const dx = proto.clamp(this.#relDx, -32768, 32767);
      const dy = proto.clamp(this.#relDy, -32768, 32767);
      if (!this.#link.sendHid(proto.pointerRel(this.#sentMask, dx, dy))) break;
      this.#relDx -= dx;
      this.#relDy -= dy;
    }
    this.#relDx = 0;
    this.#relDy = 0;
  }

  #wheel(e) {
    e.preventDefault(); // no page scroll, no pinch zoom over the remote screen
    if (!this.#isActive()) return;
    const perStep =
      e.deltaMode === WheelEvent.DOM_DELTA_PIXEL ? PIXELS_PER_STEP
        : e.deltaMode === WheelEvent.DOM_DELTA_LINE ? LINES_PER_STEP
          : 1; // DOM_DELTA_PAGE: one page is one step
    // Touchpads send many small deltas; they add up to whole steps here.
    this.#wheelX += e.deltaX / perStep;
    this.#wheelY += e.deltaY / perStep;
    const dx = Math.trunc(this.#wheelX);
    const dy = Math.trunc(this.#wheelY);
    if (dx === 0 && dy === 0) return;
    this.#wheelX -= dx;
    this.#wheelY -= dy;
    this.#link.sendHid(proto.wheel(dx, dy));
  }

  async #lock() {
    try {
      // Raw motion, without the local OS's pointer acceleration applied twice.
      await this.#surface.requestPointerLock({ unadjustedMovement: true });
    } catch {
      try {
        await this.#surface.requestPointerLock();
      } catch {
        // Refused (no user gesture, or the document is not focused): the next click retries.
      }
    }
  }
}

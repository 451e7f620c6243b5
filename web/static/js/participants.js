// The people on a shared console: the toolbar's people button (with how many there are) and the
// panel it opens — each participant by name, "you" marked, a badge for the one in control and
// for a pending request, "watching" or "view only" for the others — with this participant's
// control actions: request, cancel, take, release, and pass control to someone.
//
// Names are the agent's text: they go in through textContent only.

const el = (id) => document.getElementById(id);

export class Participants {
  #button = el("btn-people");
  #count = el("people-count");
  #panel = el("people-panel");
  #list = el("people-list");
  #note = el("people-note");
  #request = el("panel-request");
  #cancel = el("panel-cancel");
  #take = el("panel-take");
  #release = el("panel-release");
  #actions;
  #passTo = []; // sids of the rows' Pass buttons, by index

  /** actions: {request(), cancel(), take(), release(), pass(sid)}. */
  constructor(actions) {
    this.#actions = actions;
  }

  start() {
    this.#request.addEventListener("click", () => this.#actions.request());
    this.#cancel.addEventListener("click", () => this.#actions.cancel());
    this.#take.addEventListener("click", () => {
      this.#panel.hidePopover();
      this.#actions.take();
    });
    this.#release.addEventListener("click", () => this.#actions.release());
    this.#list.addEventListener("click", (e) => {
      const i = e.target.closest("[data-pass]")?.dataset.pass;
      const sid = this.#passTo[Number(i)];
      if (sid === undefined) return;
      this.#panel.hidePopover();
      this.#actions.pass(sid);
    });
  }

  /** Hides the button and panel: no roster (an agent that does not share, or none at all). */
  clear() {
    this.#button.hidden = true;
    if (this.#panel.matches(":popover-open")) this.#panel.hidePopover();
    this.#list.replaceChildren();
    this.#passTo = [];
  }

  /**
   * render(view): view from Sharing — {people: [{sid, name, grant, you, inControl, asking}],
   * pos: position(), secondsLeft: of the pending request, or null}.
   */
  render(view) {
    const { people, pos } = view;
    const n = people.length;
    this.#button.hidden = false;
    this.#count.textContent = String(n);
    const controller = pos.controller ? displayName(pos.controller.name) : null;
    const summary = `${n === 1 ? "1 person" : `${n} people`} on this console${controller ? `, ${controller} in control` : ", nobody in control"}`;
    this.#button.setAttribute("aria-label", `People: ${summary}`);
    this.#button.title = summary;
    this.#button.dataset.role = pos.inControl ? "control" : "watch";

    this.#passTo = [];
    this.#list.replaceChildren(...people.map((p) => this.#row(p, view)));

    const asking = pos.request && !pos.request.mine ? displayName(pos.request.from.name) : null;
    this.#request.hidden = !pos.mayControl || pos.inControl || !!pos.request?.mine;
    this.#cancel.hidden = !pos.request?.mine;
    this.#take.hidden = !pos.isAdmin || pos.inControl || !pos.controller;
    this.#release.hidden = !pos.inControl;
    this.#note.textContent = note(pos, controller, asking, view.secondsLeft);
  }

  /** Only the countdown changed: the note says it. */
  tick(view) {
    const controller = view.pos.controller ? displayName(view.pos.controller.name) : null;
    const asking = view.pos.request && !view.pos.request.mine ? displayName(view.pos.request.from.name) : null;
    this.#note.textContent = note(view.pos, controller, asking, view.secondsLeft);
  }

  #row(p, view) {
    const li = document.createElement("li");
    li.className = "person";
    if (p.you) li.dataset.you = "true";
    if (p.inControl) li.dataset.control = "true";

    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    avatar.textContent = initial(p.name);
    avatar.dataset.hue = String(hue(p.name));

    const text = document.createElement("span");
    text.className = "person-text";
    const name = document.createElement("span");
    name.className = "person-label";
    name.textContent = displayName(p.name);
    text.append(name);
    if (p.you) {
      const you = document.createElement("span");
      you.className = "person-you";
      you.textContent = " (you)";
      text.append(you);
    }
    const role = document.createElement("span");
    role.className = "person-role";
    role.textContent = p.inControl ? "has the keyboard and mouse" : p.grant === "view" ? "watching · view only" : "watching";
    text.append(role);
    li.append(avatar, text);

    if (p.inControl) li.append(badge("In control", "control"));
    else if (p.asking) li.append(badge("Asks for control", "ask"));

    // The controller passes control to any other participant who may hold it.
    if (view.pos.inControl && !p.you && p.grant !== "view") {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn btn-small";
      b.dataset.pass = String(this.#passTo.length);
      b.textContent = "Pass control";
      b.setAttribute("aria-label", `Pass control to ${displayName(p.name)}`);
      this.#passTo.push(p.sid);
      li.append(b);
    }
    return li;
  }
}

/** displayName(name): a participant's name as shown (a nameless one is still someone). */
export function displayName(name) {
  return name || "Unnamed participant";
}

function badge(text, kind) {
  const b = document.createElement("span");
  b.className = "badge";
  b.dataset.kind = kind;
  b.textContent = text;
  return b;
}

function initial(name) {
  const first = [...(name ?? "").trim()][0];
  return first ? first.toLocaleUpperCase() : "?";
}

// One of eight avatar colours, the same for a name on every console.
function hue(name) {
  let h = 0;
  for (const ch of name ?? "") h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 8;
}

// The sentence under the list: where this participant stands.
function note(pos, controller, asking, secondsLeft) {
  const left = secondsLeft == null ? "" : ` (${secondsLeft} s)`;
  if (pos.inControl) {
    if (asking) return `You are in control. ${asking} asks for control${left}.`;
    return "You are in control: your keys and pointer reach the machine.";
  }
  if (!pos.mayControl) return `You are watching (view only)${controller ? `: ${controller} is in control` : ""}.`;
  if (pos.request?.mine) return `Waiting for ${controller ?? "an answer"}…${left}`;
  const who = controller ? `${controller} is in control` : "Nobody is in control";
  return asking ? `${who}. ${asking} asks for control.` : `${who}.`;
}

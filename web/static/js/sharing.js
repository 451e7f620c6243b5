// A shared session, as this console sees it: the agent's rosters come in, the people panel,
// the control bar and the toasts show them, and this participant's moves (request, cancel,
// approve, decline, pass, release, take) go out as `control` messages. The agent is the only
// authority on who holds control: nothing here changes until its next roster says so.
//
// Before any roster arrives (an agent that does not share machines) this console is alone on
// the machine and in control, exactly as before shared sessions.
import { parseRoster, position, localDeadline, secondsLeft, Names } from "./roster.js";
import { eventText } from "./rosterphrases.js";
import { Participants, displayName } from "./participants.js";
import { ControlBar } from "./controlbar.js";

export class Sharing {
  #send;
  #toast;
  #onChange;
  #names = new Names();
  #roster = null;
  #me = "";
  #pos = null;
  #deadline = 0; // the pending request's end on this browser's clock
  #requestKey = ""; // which request #deadline belongs to
  #timer = 0;
  #panel;
  #bar;

  /**
   * send(action, {from, to}): a control message to the agent. toast(text): tells the person.
   * onChange({inControl, was}): after every roster (and reset), with whether this console
   * holds control now and did before. onClose(): the keyboard focus goes back to the screen.
   */
  constructor({ send, toast, onChange, onClose }) {
    this.#send = send;
    this.#toast = toast;
    this.#onChange = onChange;
    this.#panel = new Participants({
      request: () => this.requestControl(),
      cancel: () => this.cancelRequest(),
      take: () => this.askTake(),
      release: () => this.release(),
      pass: (sid) => this.#passTo(sid),
    });
    this.#bar = new ControlBar(
      {
        request: () => this.requestControl(),
        cancel: () => this.cancelRequest(),
        take: () => this.take(),
        askTake: () => this.askTake(),
        approve: () => this.approve(),
        decline: () => this.decline(),
      },
      onClose,
    );
  }

  start() {
    this.#panel.start();
    this.#bar.start();
  }

  /** Whether the agent shares this machine (a roster arrived). */
  get known() {
    return this.#roster !== null;
  }

  /** Whether this console may act on the machine: it holds control, or nobody shares it. */
  get inControl() {
    return this.#pos === null || this.#pos.inControl;
  }

  /** Whether this console's grant may hold control (control, admin; every grant before a
   * roster says otherwise). */
  get mayControl() {
    return this.#pos === null || this.#pos.mayControl;
  }

  /** The name of the participant in control, or null (nobody, or no roster). */
  get controllerName() {
    return this.#pos?.controller ? displayName(this.#pos.controller.name) : null;
  }

  /** The control bar's mode (hidden, watching, waiting, prompt), for the tests. */
  get barMode() {
    return this.#bar.mode;
  }

  /** For the test hooks: the roster with names and this console's place in it, or null. */
  get snapshot() {
    if (!this.#roster) return null;
    const name = (sid) => (sid ? displayName(this.#names.name(sid)) : null);
    return {
      me: this.#me,
      participants: this.#people().map(({ sid, name: n, grant, you, inControl }) => ({ sid, name: n, grant, you, inControl })),
      controller: name(this.#roster.controller),
      request: this.#roster.request ? { from: name(this.#roster.request.from), secondsLeft: this.#secondsLeft() } : null,
      event: this.#roster.event ? { ...this.#roster.event } : null,
    };
  }

  /** update(data, me): one `roster` message; me is this console's session id. */
  update(data, me) {
    const roster = parseRoster(data);
    if (!roster) return;
    const was = this.inControl;
    this.#names.learn(roster);
    this.#roster = roster;
    this.#me = me;
    this.#pos = position(roster, me);
    // A take being confirmed names whoever holds control now, or goes if there is none to take.
    if (this.#bar.taking) {
      if (this.#mayTake()) this.#bar.confirmTake(this.#pos.controller.name);
      else this.#bar.dismissTake();
    }
    this.#track();
    this.#render();
    const text = eventText(roster.event, {
      me,
      name: (sid) => displayName(this.#names.name(sid)),
      grantOf: (sid) => roster.participants.find((p) => p.sid === sid)?.grant ?? "",
      controller: roster.controller,
    });
    if (text && !this.#quiet(roster)) this.#toast(text);
    this.#onChange({ inControl: this.inControl, was });
  }

  /** Forgets the roster: the agent went away (the next one may not share), or the session
   * ended. The console is then alone again, as before any roster. */
  reset() {
    if (!this.#roster) return;
    const was = this.inControl;
    this.#roster = null;
    this.#pos = null;
    this.#requestKey = "";
    clearInterval(this.#timer);
    this.#timer = 0;
    this.#panel.clear();
    this.#bar.clear();
    this.#bar.dismissTake();
    this.#onChange({ inControl: true, was });
  }

  /** Ctrl+Alt+Shift+M while a request waits for this console's answer: to the prompt. */
  focusPrompt() {
    return this.#bar.focusPrompt();
  }

  // The moves. Each checks what the roster allows, as the buttons offered do, so that a test
  // hook or a stale click never sends what the agent would refuse.

  requestControl() {
    if (!this.#pos || this.#pos.inControl || !this.#pos.mayControl || this.#pos.request?.mine) return false;
    return this.#send("request");
  }

  cancelRequest() {
    if (!this.#pos?.request?.mine) return false;
    return this.#send("cancel");
  }

  approve() {
    if (!this.#pos?.request?.toAnswer) return false;
    return this.#send("approve", { from: this.#pos.request.from.sid });
  }

  decline() {
    if (!this.#pos?.request?.toAnswer) return false;
    return this.#send("decline", { from: this.#pos.request.from.sid });
  }

  release() {
    if (!this.#pos?.inControl) return false;
    return this.#send("release");
  }

  /** pass(name): hands control to the participant of that name (or session id). */
  pass(who) {
    const p = this.#roster?.participants.find((q) => q.sid === who) ??
      this.#roster?.participants.find((q) => q.name === who && q.sid !== this.#me);
    return p ? this.#passTo(p.sid) : false;
  }

  /** take(): an admin takes control at once (the dialog's confirmation, or a test). */
  take() {
    return this.#mayTake() ? this.#send("take") : false;
  }

  /** askTake(): asks first, naming who loses control. */
  askTake() {
    if (this.#mayTake()) this.#bar.confirmTake(this.#pos.controller.name);
  }

  #mayTake() {
    return !!this.#pos?.isAdmin && !this.#pos.inControl && !!this.#pos.controller;
  }

  #passTo(sid) {
    const p = this.#roster?.participants.find((q) => q.sid === sid);
    if (!this.#pos?.inControl || !p || p.sid === this.#me || p.grant === "view") return false;
    return this.#send("pass", { to: sid });
  }

  // Events the page already says otherwise: a request this console must answer (the prompt
  // says it, at once), and control handed to a console alone on the machine (as on every
  // connection of a lone operator, who has nobody to hear it from).
  #quiet(roster) {
    const e = roster.event;
    if (e.kind === "requested") return !!this.#pos.request?.toAnswer && e.subject === roster.request.from;
    if (e.kind === "granted") return e.subject === this.#me && roster.participants.length === 1;
    return false;
  }

  #people() {
    const r = this.#roster;
    return r.participants.map((p) => ({
      ...p,
      you: p.sid === this.#me,
      inControl: p.sid === r.controller,
      asking: r.request?.from === p.sid,
    }));
  }

  // Keeps the countdown of a pending request running, and its deadline fixed for as long as
  // it is the same request.
  #track() {
    const req = this.#roster.request;
    const key = req ? `${req.from}@${req.expiresAt}` : "";
    if (key !== this.#requestKey) {
      this.#requestKey = key;
      this.#deadline = req ? localDeadline(req.expiresAt) : 0;
    }
    if (req && !this.#timer) {
      this.#timer = setInterval(() => this.#tick(), 1000);
    } else if (!req && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = 0;
    }
  }

  #secondsLeft() {
    return this.#roster?.request ? secondsLeft(this.#deadline) : null;
  }

  #view() {
    return { people: this.#people(), pos: this.#pos, secondsLeft: this.#secondsLeft() };
  }

  #render() {
    const view = this.#view();
    this.#panel.render(view);
    this.#bar.render(view);
  }

  #tick() {
    if (!this.#roster) return;
    const view = this.#view();
    this.#panel.tick(view);
    this.#bar.render(view);
  }
}

// window.kvm: a view of the console for automated tests and the latency benchmark, which drive
// the page from Go through the DevTools protocol. Its getters change nothing on the page; its
// control moves do what the page's own buttons do (and nothing the roster does not allow).
import { usageFor } from "./keymap.js";
import { mapPointer } from "./geometry.js";

/**
 * read: getters for the live values — state(), stats(), stripCount(), latencySamples(), latencyTotal(),
 * firstChangeSamples(), firstChangeByKey(), latencyByKey() ([key-down time, ms] pairs), framesDecoded(),
 * lastError(), consent() (the consent prompt's state), stripTrace() (see traceStrip below), and for a
 * shared machine:
 *   roster()     — null before the agent sent one; else {me: this console's sid, participants:
 *                  [{sid, name, grant, you, inControl}], controller: name | null, request:
 *                  {from: name, secondsLeft} | null, event: the last event as the agent sent it};
 *   inControl()  — whether keys and pointer reach the machine from here (true before a roster);
 *   controlBar() — the control bar's mode: hidden, watching, waiting (own request) or prompt.
 * video: the remote screen's <video>.
 * control: the moves of a shared session, each returning whether a `control` message went out
 * (false when the roster does not allow it) — requestControl(), cancelRequest(), approve(),
 * decline() (the pending request), release(), pass(name) (to the participant of that name),
 * take() (an admin, without the confirmation dialog the page's button asks first).
 * traceStrip(on): the benchmark's strip trace — while on, every frame's strip is read and each
 * new count kept with when it was shown (stripTrace: [ms since the epoch, count] pairs).
 */
export function installHooks(read, video, control = {}) {
  const api = Object.create(null);
  const getter = (name, fn) => Object.defineProperty(api, name, { get: fn, enumerable: true });
  getter("state", read.state);
  getter("stats", () => copy(read.stats()));
  getter("stripCount", read.stripCount);
  getter("latencySamples", () => read.latencySamples().slice());
  getter("latencyTotal", read.latencyTotal);
  getter("latencySplit", () => copy(read.latencySplit()));
  getter("firstChangeSamples", () => read.firstChangeSamples().slice());
  getter("firstChangeByKey", () => copy(read.firstChangeByKey()));
  getter("latencyByKey", () => copy(read.latencyByKey()));
  getter("framesDecoded", read.framesDecoded);
  getter("lastError", () => copy(read.lastError()));
  getter("consent", read.consent);
  getter("power", read.power);
  getter("roster", () => copy(read.roster?.()));
  getter("inControl", () => read.inControl?.() ?? true);
  getter("controlBar", () => read.controlBar?.() ?? "hidden");
  getter("stripTrace", () => read.stripTrace?.() ?? []);
  for (const [name, fn] of Object.entries(control)) api[name] = (...args) => fn(...args);
  api.usageFor = (code) => usageFor(String(code));
  api.mapPointer = (clientX, clientY) => mapPointer(video, Number(clientX), Number(clientY));
  Object.defineProperty(window, "kvm", { value: Object.freeze(api), enumerable: true });
}

// Callers get copies, so that nothing they do reaches the page's own objects.
function copy(v) {
  return v == null ? null : structuredClone(v);
}

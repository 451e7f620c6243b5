// window.kvm: a read-only view of the console for automated tests and the latency benchmark,
// which drive the page from Go through the DevTools protocol. It changes nothing on the page.
import { usageFor } from "./keymap.js";
import { mapPointer } from "./geometry.js";

/**
 * read: getters for the live values — state(), stats(), stripCount(), latencySamples(), latencyTotal(),
 * firstChangeSamples(), firstChangeByKey(), latencyByKey() ([key-down time, ms] pairs), framesDecoded(),
 * lastError(), consent() (the consent prompt's state). video: the remote screen's <video>.
 */
export function installHooks(read, video) {
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
  api.usageFor = (code) => usageFor(String(code));
  api.mapPointer = (clientX, clientY) => mapPointer(video, Number(clientX), Number(clientY));
  Object.defineProperty(window, "kvm", { value: Object.freeze(api), enumerable: true });
}

// Callers get copies, so that nothing they do reaches the page's own objects.
function copy(v) {
  return v == null ? null : structuredClone(v);
}

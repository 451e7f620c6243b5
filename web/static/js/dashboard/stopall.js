// The confirmation before stopping several console sessions at once: it lists each one (who,
// what state, since when), so one click never ends more than the person saw.
import { byId, el } from "./dom.js";

/**
 * confirmStopAll(deviceName, lines): shows the dialog listing lines (text only) and resolves
 * to true when the person confirms, false when they cancel.
 */
export function confirmStopAll(deviceName, lines) {
  const dialog = byId("stop-all-dialog");
  byId("stop-all-title").textContent = `Stop all ${lines.length} console sessions of ${deviceName}?`;
  byId("stop-all-list").replaceChildren(...lines.map((text) => el("li", { text })));
  byId("stop-all-confirm").textContent = `Stop all ${lines.length}`;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    // Decided when a button submits the form (synchronously, with that button's value) or
    // Escape cancels, not on "close": that event comes as a later task, and a late one from
    // an earlier opening would answer this one with its empty returnValue.
    const form = dialog.querySelector("form");
    const done = (ok) => {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("cancel", onCancel);
      resolve(ok);
    };
    const onSubmit = (e) => done(e.submitter?.value === "stop");
    const onCancel = () => done(false);
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
  });
}

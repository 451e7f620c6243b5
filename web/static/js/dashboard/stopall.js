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
    // "close" is dispatched as a task after the dialog closed: the close of an earlier
    // opening (Cancel, then Stop all again at once) can arrive after this one opened, with
    // this opening's empty returnValue. An event while the dialog is open is that stale one.
    const onClose = () => {
      if (dialog.open) return;
      dialog.removeEventListener("close", onClose);
      resolve(dialog.returnValue === "stop");
    };
    dialog.addEventListener("close", onClose);
    dialog.showModal();
  });
}

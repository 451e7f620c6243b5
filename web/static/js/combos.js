// Key combinations the local machine would not let through (Ctrl+Alt+Del, Alt+Tab, …), played
// on the remote from the toolbar: press in order, hold briefly, release in reverse order.
import { usageFor } from "./keymap.js";

// Long enough for a slow USB host or a BIOS polling the keyboard to see all keys down together.
const HOLD_MS = 50;

/** Plays a combination given as KeyboardEvent.code names ("ControlLeft AltLeft Delete"). */
export async function playCombo(keyboard, codes) {
  const usages = codes.split(/\s+/).map(usageFor).filter((u) => u !== null);
  const pressed = [];
  for (const u of usages) {
    if (!keyboard.sendKey(u, true)) break;
    pressed.push(u);
  }
  if (pressed.length === 0) return false;
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  for (const u of pressed.reverse()) keyboard.sendKey(u, false);
  return pressed.length === usages.length;
}

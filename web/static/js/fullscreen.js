// Full screen, with the Keyboard Lock API where the browser has it: in full screen the system
// keys (Esc, Alt+Tab, the Windows key, …) then reach the remote instead of the local machine.
// Chromium leaves full screen when Esc is held down.

/** Enters or leaves full screen. Resolves to true when the keyboard is locked. */
export async function toggleFullscreen() {
  if (document.fullscreenElement) {
    await document.exitFullscreen();
    return false;
  }
  await document.documentElement.requestFullscreen({ navigationUI: "hide" });
  if (!navigator.keyboard?.lock) return false;
  try {
    await navigator.keyboard.lock();
    return true;
  } catch {
    return false;
  }
}

/** Calls onChange(isFullscreen) on every change, and unlocks the keyboard on leaving. */
export function watchFullscreen(onChange) {
  document.addEventListener("fullscreenchange", () => {
    const on = document.fullscreenElement !== null;
    if (!on) navigator.keyboard?.unlock?.();
    onChange(on);
  });
}

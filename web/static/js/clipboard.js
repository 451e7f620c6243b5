// Copying a link: the asynchronous clipboard API where the browser allows it (a secure page, a
// click of the person's); otherwise the link is selected in its field, for Ctrl+C.

/**
 * copyText(input): copies input's value. Resolves to true when it is on the clipboard, false
 * when it was selected instead (the caller then tells the person to press Ctrl+C).
 */
export async function copyText(input) {
  try {
    if (!navigator.clipboard?.writeText) throw new Error("no asynchronous clipboard");
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    input.focus();
    input.setSelectionRange(0, input.value.length);
    return false;
  }
}

/** The sentence after copyText. */
export function copiedText(copied) {
  if (copied) return "Copied to the clipboard.";
  const mac = /Mac|iPhone|iPad/.test(navigator.platform ?? "");
  return `This browser did not let the page copy: the link is selected, press ${mac ? "⌘C" : "Ctrl+C"} to copy it.`;
}

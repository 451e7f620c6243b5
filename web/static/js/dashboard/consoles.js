// Opening a device's console. The API starts a session and returns a one-time console URL
// (/console/#code=…); the console runs in its own tab so the device list stays.

/**
 * openConsole(api, deviceID): starts a session and shows its console in a new tab. The tab is
 * opened at once, inside the click (browsers block pop-ups opened later, after the request),
 * and sent to the console URL when it arrives; if the browser refuses a tab, this one goes.
 * Resolves to the started session; rejects with the API's error (the blank tab is closed).
 */
export async function openConsole(api, deviceID) {
  const tab = window.open("about:blank", "_blank");
  if (tab) {
    // The console needs nothing from this page: cut the link back to it.
    tab.opener = null;
  }
  let started;
  try {
    started = await api.startSession(deviceID);
  } catch (err) {
    tab?.close();
    throw err;
  }
  const url = consoleURL(started?.console_url);
  if (!url) {
    tab?.close();
    throw new Error("no console URL");
  }
  if (tab && !tab.closed) tab.location.replace(url);
  else window.location.assign(url);
  return started.session;
}

/**
 * consoleURL(raw): the console link to open — the one-time code of the URL the API returned,
 * on this page's own origin — or null when raw has none. The relay that served this page
 * redeems the code whatever address it is reached at (its configured public URL may be another
 * name for it), and the page never navigates anywhere a response names.
 */
export function consoleURL(raw) {
  let u;
  try {
    u = new URL(String(raw ?? ""));
  } catch {
    return null;
  }
  const code = new URLSearchParams(u.hash.replace(/^#/, "")).get("code");
  if (!code || !u.pathname.endsWith("/console/")) return null;
  return new URL(`/console/#${new URLSearchParams({ code })}`, window.location.origin).href;
}

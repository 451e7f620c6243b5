// Turning API values into short text. Every string from a device is hostile: these functions only
// return strings, which callers put into textContent.

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago", or "never". */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso ?? "");
  if (Number.isNaN(t)) return "never";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** The capabilities JSON the relay stores for a device ({sources, sizes, codecs}), as lists of
 * strings; anything else is empty. */
export function capabilities(raw) {
  let c = null;
  try {
    c = typeof raw === "string" && raw !== "" ? JSON.parse(raw) : null;
  } catch {
    c = null;
  }
  const list = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === "string" && x !== "") : []);
  const sig = c?.signal;
  const signal =
    sig && typeof sig === "object" && typeof sig.state === "string"
      ? { source: String(sig.source ?? ""), state: sig.state, error: String(sig.error ?? ""), since: Number(sig.since) || 0 }
      : null;
  return { sources: list(c?.sources), sizes: list(c?.sizes), codecs: list(c?.codecs), signal };
}

/** What the presence cell says about an online device's video source: null when it is live (or
 * the agent does not report it), else {label, detail} for a device whose machine is not reachable. */
export function signalNote(signal) {
  // Standby: an on-demand source (Intel AMT) that connects when a console opens; nothing wrong.
  if (!signal || signal.state === "live" || signal.state === "standby") return null;
  if (signal.state === "connecting") return { label: "Connecting to source", detail: `connecting to ${signal.source}` };
  const detail = [`No signal from ${signal.source}`, signal.error].filter(Boolean).join(": ");
  return { label: "No signal", detail: `${detail}. The agent keeps reconnecting; check the machine and its VNC/stream server.` };
}

/** Label pairs as "key=value" strings, sorted. */
export function labels(obj) {
  if (!obj || typeof obj !== "object") return [];
  return Object.keys(obj)
    .sort()
    .map((k) => `${k}=${String(obj[k])}`);
}

// Session states (control/store/session.go): every state but these two is live.
const FINAL = new Set(["STOPPED", "ERROR"]);

export function live(session) {
  return !!session && !FINAL.has(session.current);
}

/** Who holds a session, as people know them (email, API key name); the API resolves it. */
export function holder(session) {
  const name = session?.principal_name;
  return typeof name === "string" && name !== "" ? name : String(session?.principal ?? "someone");
}

/** One open session in words: its state, who holds it and since when. */
export function sessionLine(s, now = Date.now()) {
  switch (s.current) {
    case "ACTIVE":
      // console_connected false: the console went away without Disconnect (a closed tab, a
      // network change); the session waits a short grace for it, then stops.
      if (s.console_connected === false) {
        return `Console gone: ${holder(s)}, ${ago(s.last_activity ?? s.started_at ?? s.created_at, now)}; closes unless it reconnects`;
      }
      return `Connected: ${holder(s)}, started ${ago(s.started_at ?? s.created_at, now)}`;
    case "REQUESTED":
      return `Link not opened yet: ${holder(s)}, requested ${ago(s.created_at, now)}`;
    case "CONSENT_REQUIRED":
      return `Waiting for the consent code shown on the machine's screen: ${holder(s)}`;
    default:
      return `${String(s.current).toLowerCase()}: ${holder(s)}`;
  }
}

/**
 * What a device's console is doing: open, every live session (newest first) from
 * GET …/sessions?live=true; last, the newest session when none is open. The text says exactly
 * what is open and by whom; it never folds sessions into "+n more".
 */
export function sessionSummary(open, last, now = Date.now()) {
  if (open.length > 0) {
    return { live: true, count: open.length, open, text: open.length === 1 ? "1 console open" : `${open.length} consoles open` };
  }
  if (!last) return { live: false, count: 0, open: [], text: "No console yet" };
  const why = last.reason ? `: ${last.reason}` : "";
  return { live: false, count: 0, open: [], text: `Last console ${last.current === "ERROR" ? "failed" : "ended"} ${ago(last.ended_at ?? last.updated_at, now)}${why}` };
}

/** Whether text matches a filter query (case-insensitive, every word somewhere). */
export function matches(haystack, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const text = haystack.toLowerCase();
  return words.every((w) => text.includes(w));
}

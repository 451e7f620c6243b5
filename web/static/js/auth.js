// Getting a console token: the one-time login code arrives in the URL fragment
// (/console/#code=…), which browsers never send to a server, so it stays out of proxy and
// access logs. The page redeems it once and removes it from the address bar.
//
// Where the token lives: in memory, plus sessionStorage so that reloading the tab resumes the
// console (the one-time code cannot be redeemed twice). sessionStorage belongs to this tab only,
// is gone when the tab closes, and is readable only by this origin's scripts — which the CSP
// limits to these files. The token is short-lived and bound to one console session, and it is
// dropped when the session ends. localStorage (shared by all tabs, kept forever) would not be.
const STORE_KEY = "kvmrelay.console";
const REDEEM_URL = "/api/v1/console/redeem";
const STATUS_URL = "/api/v1/console/status";

/** The parameters of the URL fragment: code (one-time login), relay=1 (TURN only), guest (a
 * guest link's token: this page asks the guest's name), and whether the link is the
 * dashboard's — an invitation, a password reset or a colleague's share link (invite=…,
 * reset=…, share=…), which need a signed-in (or new) account. */
export function readFragment(loc = window.location) {
  const params = new URLSearchParams(loc.hash.replace(/^#/, ""));
  return {
    code: params.get("code"),
    relayOnly: params.get("relay") === "1",
    guest: params.get("guest") || null,
    invite: params.has("invite") || params.has("reset") || params.has("share"),
  };
}

/** Removes the one-time code from the address bar and history, keeping relay=1. */
export function scrubFragment(relayOnly) {
  const url = window.location.pathname + window.location.search + (relayOnly ? "#relay=1" : "");
  history.replaceState(history.state, "", url);
}

/** Why a link could not be redeemed; retryable when the code was not used up (network, rate
 * limit, relay trouble) and the same code may be tried again. */
export class RedeemError extends Error {
  constructor(message, retryable) {
    super(message);
    this.retryable = retryable;
  }
}

/**
 * Exchanges a one-time code for a console token. Resolves to {token, device, expiresAt};
 * rejects with a RedeemError whose message tells the person what to do.
 */
export async function redeem(code) {
  let res;
  try {
    res = await fetch(REDEEM_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code }),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new RedeemError("The relay could not be reached. Check your network connection and press Retry.", true);
  }
  if (res.status === 400 || res.status === 401 || res.status === 403 || res.status === 404 || res.status === 410) {
    // A link whose session ended, or whose holder lost the right to it, says why (plain text).
    const refusal = await res.json().catch(() => null);
    const says = typeof refusal?.message === "string" && refusal.message !== "";
    if (says && (refusal.code === "session-ended" || refusal.code === "not-allowed")) {
      throw new RedeemError(refusal.message, false);
    }
    throw new RedeemError(
      "This console link is invalid, expired or already used. Links work once: start the console again to get a new one.",
      false,
    );
  }
  let body;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    // The relay's own message says what to do (wait after a rate limit, …); it is plain text.
    const said = typeof body?.message === "string" && body.message !== "" ? body.message : null;
    throw new RedeemError(said ?? `The relay could not open the console (HTTP ${res.status}). Try again in a moment.`, true);
  }
  if (!body || typeof body.token !== "string" || body.token === "") {
    throw new RedeemError("The relay answered with something this page does not understand.", false);
  }
  // The names are for people (the toolbar); the device id is only a fallback for relays that
  // do not send them.
  return {
    token: body.token,
    device: deviceName(body.device_name) ?? deviceName(body.device),
    person: deviceName(body.principal_name),
    expiresAt: parseTime(body.expires_at),
    grant: grantOf(body.grant),
  };
}

/** Keeps the current token for a reload of this tab. */
export function saveToken(t) {
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(t));
  } catch {
    // Storage disabled or full: reloading will need a new link, nothing else changes.
  }
}

/** The token saved by this tab, if it has not expired. */
export function loadToken() {
  let t = null;
  try {
    t = JSON.parse(sessionStorage.getItem(STORE_KEY) ?? "null");
  } catch {
    t = null;
  }
  if (!t || typeof t.token !== "string" || expired(t.expiresAt)) return null;
  return t;
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(STORE_KEY);
  } catch {
    // nothing stored
  }
}

/** Whether a time in ms since the epoch lies in the past (null: unknown, not expired). */
export function expired(at) {
  return typeof at === "number" && at <= Date.now();
}

/** Milliseconds since the epoch from an RFC 3339 string or a count of seconds; null if neither. */
export function parseTime(v) {
  if (typeof v === "number" && Number.isFinite(v)) return v < 1e12 ? v * 1000 : v;
  if (typeof v === "string") {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

/** A console's grant from the relay's answer (view, control, admin), or null: not said. */
export function grantOf(v) {
  return v === "view" || v === "control" || v === "admin" ? v : null;
}

/** The device's name from the relay's `device` field, or null. The text comes from the agent and
 * is hostile: callers only ever put it in textContent. */
export function deviceName(device) {
  return typeof device === "string" && device !== "" ? device : null;
}

/**
 * Asks the relay whether the session of token can still be joined, after its WebSocket
 * upgrade failed (a browser cannot see a 403). Resolves {live, message}; live true when the
 * relay cannot say (network, outage), so the caller keeps retrying.
 */
export async function sessionStatus(token) {
  try {
    const res = await fetch(STATUS_URL, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
    if (!res.ok) return { live: true };
    const body = await res.json();
    if (body?.live === false) {
      return { live: false, message: typeof body.message === "string" && body.message ? body.message : "This console session has ended." };
    }
  } catch {
    // The relay is unreachable: the retry loop handles that.
  }
  return { live: true };
}

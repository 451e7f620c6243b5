// Signing in. The access token lives in this object only (never in storage). The refresh token
// never reaches script at all: the relay keeps it in an HttpOnly cookie scoped to /api/v1/auth
// when a request carries CLIENT_HEADER, and takes it back from there only with that header.
import { ApiError, requestJSON } from "./errors.js";

const AUTH = "/api/v1/auth";
export const CLIENT_HEADER = { "X-Kvmrelay-Client": "web" };
// Refresh this long before the access token expires, so a request never carries a dead one.
const EARLY_MS = 60_000;
const MIN_DELAY_MS = 5_000;
// Whether this browser signed in before, so a first visit does not start with a refresh that
// can only fail. A hint, not a secret: the cookie decides.
const HINT_KEY = "kvmrelay.dashboard.signedIn";
// Refreshes are serialized across this origin's tabs: two tabs rotating the same cookie at once
// would look like a stolen token to the relay, which then ends the whole session.
const LOCK = "kvmrelay.dashboard.refresh";

export class Auth {
  #access = null; // {token, expiresAt (ms)}
  #timer = 0;
  #pending = null; // the refresh in flight, shared by every caller
  #onSignedOut;

  /** onSignedOut(message): the session ended by itself (refresh refused); message says why. */
  constructor({ onSignedOut }) {
    this.#onSignedOut = onSignedOut;
  }

  get signedIn() {
    return this.#access !== null;
  }

  /** The access token for a request, or null. */
  get token() {
    return this.#access?.token ?? null;
  }

  /**
   * Signs in. creds: {org, email, password, totp?, recovery_code?}. Rejects with an ApiError;
   * code "mfa-required" means: ask for the one-time code and call again with it.
   */
  async login(creds) {
    const body = await post(`${AUTH}/login`, creds);
    this.#accept(body);
  }

  /** Takes over the tokens another call answered with (a password change ends every earlier
   * session and answers with a new access token; the relay set the new refresh cookie). */
  adopt(body) {
    this.#accept(body);
  }

  /** Tries to resume a session from the cookie; resolves to whether it did. */
  async resume() {
    if (!hinted()) return false;
    try {
      await this.refresh();
      return true;
    } catch {
      return false;
    }
  }

  /** Rotates the refresh cookie for a new access token. Concurrent callers share one request. */
  refresh() {
    this.#pending ??= this.#refreshOnce().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  async #refreshOnce() {
    const run = async () => this.#accept(await post(`${AUTH}/refresh`, null));
    try {
      if (navigator.locks) await navigator.locks.request(LOCK, run);
      else await run();
    } catch (err) {
      // A refused token (used, revoked, expired) ends the session; a network error or a rate
      // limit may pass, and the access token may still be good for a while.
      if (err instanceof ApiError && (err.status === 401 || err.status === 400 || err.status === 403)) {
        this.#clear();
      }
      throw err;
    }
  }

  /** Signs out here and at the relay (the refresh token's family is revoked). */
  async logout() {
    this.#clear();
    try {
      await post(`${AUTH}/logout`, null);
    } catch {
      // Signed out in this page either way; the cookie expires by itself.
    }
  }

  #accept(body) {
    if (typeof body?.access_token !== "string" || body.access_token === "") {
      throw new ApiError(500, "internal", "The relay answered the sign-in with something this page does not understand.");
    }
    const expiresAt = Date.parse(body.access_expires_at);
    this.#access = { token: body.access_token, expiresAt: Number.isNaN(expiresAt) ? Date.now() + 5 * 60_000 : expiresAt };
    setHint(true);
    this.#schedule();
  }

  #schedule() {
    clearTimeout(this.#timer);
    const delay = Math.max(MIN_DELAY_MS, this.#access.expiresAt - Date.now() - EARLY_MS);
    this.#timer = setTimeout(() => this.#silentRefresh(), delay);
  }

  async #silentRefresh() {
    try {
      await this.refresh();
    } catch {
      if (!this.signedIn) {
        this.#onSignedOut("Your session ended. Sign in again.");
        return;
      }
      // Still signed in (the relay was unreachable): try again shortly.
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#silentRefresh(), MIN_DELAY_MS * 2);
    }
  }

  #clear() {
    clearTimeout(this.#timer);
    this.#access = null;
    setHint(false);
  }
}

// post sends a JSON POST to an auth route with the client header (cookie mode).
function post(url, body) {
  return requestJSON("POST", url, body, CLIENT_HEADER);
}

function hinted() {
  try {
    return localStorage.getItem(HINT_KEY) === "1";
  } catch {
    return true; // no storage: just try the cookie
  }
}

function setHint(on) {
  try {
    if (on) localStorage.setItem(HINT_KEY, "1");
    else localStorage.removeItem(HINT_KEY);
  } catch {
    // storage disabled: resume() then always tries the cookie
  }
}

// The control plane's REST API (/api/v1, see /api/v1/openapi.json), with the signed-in user's
// access token. A 401 is answered once by refreshing the token and trying again.
import { ApiError, requestJSON } from "./errors.js";

const BASE = "/api/v1";

export class Api {
  #auth;

  /** auth: the Auth holding the access token. */
  constructor(auth) {
    this.#auth = auth;
  }

  me() {
    return this.#call("GET", "/me");
  }

  async devices() {
    const body = await this.#call("GET", "/devices");
    return Array.isArray(body?.devices) ? body.devices : [];
  }

  async sessions(deviceID, limit = 5) {
    const body = await this.#call("GET", `/devices/${seg(deviceID)}/sessions?limit=${limit}`);
    return Array.isArray(body?.sessions) ? body.sessions : [];
  }

  /** Every open (not STOPPED or ERROR) session of a device, newest first. */
  async liveSessions(deviceID) {
    const body = await this.#call("GET", `/devices/${seg(deviceID)}/sessions?live=true`);
    return Array.isArray(body?.sessions) ? body.sessions : [];
  }

  /** Stops one session. */
  stopSession(id) {
    return this.#call("DELETE", `/sessions/${seg(id)}`);
  }

  /** Starts a console session: {session, console_url, console_url_expires_at}. */
  startSession(deviceID) {
    return this.#call("POST", `/devices/${seg(deviceID)}/sessions`);
  }

  /** Stops the device's live sessions this user may stop: {stopped: n}. */
  stopSessions(deviceID) {
    return this.#call("DELETE", `/devices/${seg(deviceID)}/sessions`);
  }

  /** Accepts an invitation (no sign-in needed): the new user and the organization's slug. */
  acceptInvite(token, password) {
    return this.#send("POST", "/invitations/accept", { token, password }, null);
  }

  acceptPasswordReset(token, password) {
    return this.#send("POST", "/password-resets/accept", { token, password }, null);
  }

  async #call(method, path, body) {
    const token = this.#auth.token;
    if (!token) throw new ApiError(401, "unauthorized", "Sign in first.");
    try {
      return await this.#send(method, path, body, token);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || err.code !== "unauthorized") throw err;
    }
    // The access token was refused (expired while the tab slept, say): refresh once.
    await this.#auth.refresh();
    return this.#send(method, path, body, this.#auth.token);
  }

  #send(method, path, body, token) {
    return requestJSON(method, BASE + path, body, token ? { Authorization: `Bearer ${token}` } : {});
  }
}

// An id as one path segment, whatever it contains.
function seg(id) {
  return encodeURIComponent(String(id));
}

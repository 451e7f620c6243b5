// The control plane's REST API (/api/v1, see /api/v1/openapi.json), with the signed-in user's
// access token. A 401 is answered once by refreshing the token and trying again.
import { CLIENT_HEADER } from "./auth.js";
import { ApiError, requestBlob, requestJSON } from "./errors.js";

const BASE = "/api/v1";

export class Api {
  #auth;
  #onEnrollmentRequired;

  /** auth: the Auth holding the access token. onEnrollmentRequired(): the relay refused a call
   * because the organization requires two-factor authentication and this user has none. */
  constructor(auth, { onEnrollmentRequired = () => {} } = {}) {
    this.#auth = auth;
    this.#onEnrollmentRequired = onEnrollmentRequired;
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

  /** The organization and its settings. */
  org() {
    return this.#call("GET", "/org");
  }

  /** Changes organization settings (owners): {require_mfa, guest_links, …}. Answers the
   * organization. */
  patchOrgSettings(settings) {
    return this.#call("PATCH", "/org/settings", settings);
  }

  /** One page of the organization's recordings, newest first: {recordings, next_offset}. */
  recordings({ limit = 50, offset = 0 } = {}) {
    return this.#call("GET", `/recordings?limit=${limit}&offset=${offset}`);
  }

  recording(id) {
    return this.#call("GET", `/recordings/${seg(id)}`);
  }

  /** The recording's timeline: its JSON lines as an array. */
  async recordingTimeline(id) {
    const body = await this.#call("GET", `/recordings/${seg(id)}/timeline`);
    return Array.isArray(body) ? body : [];
  }

  /** The recording's video as a Blob, fetched with the access token in the Authorization
   * header: no token ever goes into a URL (a <video src> cannot send one), and the blob: URL
   * the player makes of it works only in this page. download asks for it as an export; the
   * relay audits both. onProgress(received, total) follows the download. */
  recordingVideo(id, download = false, onProgress = null) {
    return this.#withToken((token) =>
      requestBlob(`${BASE}/recordings/${seg(id)}/video${download ? "?download=1" : ""}`, token, onProgress),
    );
  }

  /** Starts TOTP enrollment: {secret, otpauth_url, qr_code (an SVG data: URL)}. */
  beginTOTP() {
    return this.#call("POST", "/me/totp");
  }

  /** Turns TOTP on with a code from the app: {recovery_codes}, shown this once. */
  confirmTOTP(code) {
    return this.#call("POST", "/me/totp/confirm", { code });
  }

  /** Turns TOTP off with a code from the app or a recovery code. */
  disableTOTP(code) {
    return this.#call("DELETE", "/me/totp", { code });
  }

  /** New recovery codes for a code from the app: {recovery_codes}, shown this once. */
  regenerateRecoveryCodes(code) {
    return this.#call("POST", "/me/totp/recovery-codes", { code });
  }

  /** Changes the password. Every session ends, this one included: the answer is a new access
   * token (and, in cookie mode, a new refresh cookie), for Auth.adopt. */
  changePassword(current, next) {
    return this.#call("POST", "/me/password", { current_password: current, new_password: next }, CLIENT_HEADER);
  }

  /** Joins a console shared with this user (a colleague's share link): {console_url, session,
   * device, device_name, shared_by, grant}. */
  joinShare(token) {
    return this.#call("POST", "/shares/join", { token });
  }

  /** Accepts an invitation (no sign-in needed): the new user and the organization's slug. */
  acceptInvite(token, password) {
    return this.#send("POST", "/invitations/accept", { token, password }, null);
  }

  acceptPasswordReset(token, password) {
    return this.#send("POST", "/password-resets/accept", { token, password }, null);
  }

  async #call(method, path, body, headers = {}) {
    try {
      return await this.#callOnce(method, path, body, headers);
    } catch (err) {
      if (err instanceof ApiError && err.code === "mfa-enrollment-required") this.#onEnrollmentRequired();
      throw err;
    }
  }

  #callOnce(method, path, body, headers) {
    return this.#withToken((token) => this.#send(method, path, body, token, headers));
  }

  /** Runs send(token) with the access token, refreshing it once when the relay refuses it. */
  async #withToken(send) {
    const token = this.#auth.token;
    if (!token) throw new ApiError(401, "unauthorized", "Sign in first.");
    try {
      return await send(token);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || err.code !== "unauthorized") throw err;
    }
    // The access token was refused (expired while the tab slept, say): refresh once.
    await this.#auth.refresh();
    return send(this.#auth.token);
  }

  #send(method, path, body, token, headers = {}) {
    return requestJSON(method, BASE + path, body, token ? { ...headers, Authorization: `Bearer ${token}` } : headers);
  }
}

// An id as one path segment, whatever it contains.
function seg(id) {
  return encodeURIComponent(String(id));
}

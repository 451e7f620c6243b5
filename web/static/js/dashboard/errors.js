// What went wrong with an API call, in words that say what to do next.

/** An API call that failed: HTTP status (0: the relay was not reached), the API's stable code,
 * its message for people, for rate limits how many seconds to wait, and the answer's other
 * fields (details; null when there were none). */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = 0, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.details = details;
  }

  get rateLimited() {
    return this.status === 429 || this.code === "rate-limited";
  }
}

/** The error for a response that is not ok: the relay's own message when it sent one (plain
 * text, shown with textContent), else one by status. */
export async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const code = typeof body?.code === "string" ? body.code : "";
  const said = typeof body?.message === "string" && body.message !== "" ? body.message : "";
  const wait = Number.parseInt(res.headers.get("Retry-After") ?? "", 10);
  const details = body !== null && typeof body === "object" ? body : null;
  return new ApiError(res.status, code, said || byStatus(res.status), Number.isFinite(wait) && wait > 0 ? wait : 0, details);
}

export function unreachable() {
  return new ApiError(0, "network", "The relay could not be reached. Check your network connection and try again.");
}

function byStatus(status) {
  if (status === 401) return "You are not signed in, or your session ended. Sign in again.";
  if (status === 403) return "Your role does not allow this.";
  if (status === 404) return "Not found in your organization. It may have been removed: reload the list.";
  if (status === 429) return "Too many attempts. Wait a minute and try again.";
  if (status >= 500) return `The relay failed (HTTP ${status}). Try again in a moment.`;
  return `The relay refused the request (HTTP ${status}).`;
}

/** The message to show for err, whatever it is. */
export function messageOf(err) {
  if (err instanceof ApiError) {
    if (err.rateLimited && err.retryAfter > 0 && !/wait/i.test(err.message)) {
      return `${err.message} Wait ${err.retryAfter} s and try again.`;
    }
    return err.message;
  }
  return "Something went wrong in this page. Reload it and try again.";
}

/** Sends one JSON request to the relay and returns the decoded answer (null for 204), or throws
 * an ApiError that says what went wrong. headers are added to the JSON content type. */
export async function requestJSON(method, url, body, headers = {}) {
  const h = { ...headers };
  if (body !== undefined && body !== null) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: h,
      body: body === undefined || body === null ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw unreachable();
  }
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return null;
  try {
    return await res.json();
  } catch {
    throw new ApiError(res.status, "internal", "The relay answered with something this page does not understand.");
  }
}

/** Fetches a file from the relay with the bearer token and returns it as a Blob, or throws an
 * ApiError. onProgress(received, total) runs as the body arrives (total 0 when unknown): a
 * recording can be gigabytes, and the page says how far along it is. */
export async function requestBlob(url, token, onProgress = null) {
  let res;
  try {
    res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, credentials: "same-origin", cache: "no-store" });
  } catch {
    throw unreachable();
  }
  if (!res.ok) throw await errorOf(res);
  try {
    if (!onProgress || !res.body) return await res.blob();
    const total = Number(res.headers.get("Content-Length")) || 0;
    const parts = [];
    let received = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      received += value.byteLength;
      onProgress(received, total);
    }
    return new Blob(parts, { type: res.headers.get("Content-Type") ?? "" });
  } catch {
    throw unreachable();
  }
}

// The few REST calls the console page makes besides redeeming its link: its shares (with the
// console token as the bearer: the page has no API sign-in) and a guest's join (no token at
// all). A refusal carries the API's own sentence, which says what went wrong; the callers add
// what to do next where the sentence cannot know it.

/** A call the relay refused, or could not be made: HTTP status (0: the relay was not reached),
 * the API's stable code, its sentence for people, and the answer's other fields. */
export class ApiRefusal extends Error {
  constructor(status, code, message, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/**
 * callAPI(method, url, {token, body}): the decoded JSON answer (null for 204), or an
 * ApiRefusal. token: a console token sent as the bearer; body: sent as JSON.
 */
export async function callAPI(method, url, { token = null, body = null } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== null) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === null ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiRefusal(0, "network", "The relay could not be reached. Check your network connection and try again.");
  }
  if (res.status === 204) return null;
  let answer = null;
  try {
    answer = await res.json();
  } catch {
    answer = null;
  }
  if (!res.ok) {
    const code = typeof answer?.code === "string" ? answer.code : "";
    const said = typeof answer?.message === "string" && answer.message !== "" ? answer.message : byStatus(res);
    throw new ApiRefusal(res.status, code, said, answer);
  }
  if (answer === null || typeof answer !== "object") {
    throw new ApiRefusal(res.status, "internal", "The relay answered with something this page does not understand.");
  }
  return answer;
}

// A sentence for a refusal that came without one (an older relay, a proxy's error page).
function byStatus(res) {
  const s = res.status;
  if (s === 401) return "This console's session has ended or its link expired, so it cannot do this any more.";
  if (s === 403) return "You are not allowed to do this.";
  if (s === 404) return "This relay does not know that link, or does not offer sharing.";
  if (s === 410) return "This link has expired, was revoked, or the console it shared has ended.";
  if (s === 429) {
    const wait = Number.parseInt(res.headers.get("Retry-After") ?? "", 10);
    return `Too many attempts. Wait ${Number.isFinite(wait) && wait > 0 ? `${wait} s` : "a minute"} and try again.`;
  }
  if (s >= 500) return `The relay failed (HTTP ${s}). Try again in a moment.`;
  return `The relay refused the request (HTTP ${s}).`;
}

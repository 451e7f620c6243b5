// Shared sessions: the agent's `roster` (signaling/wire/control.go) says who is on the machine's
// console, who holds control and whose request is pending. This module only reads it: it checks
// the agent's JSON into a plain shape and works out where this console stands. Everything in a
// roster is the agent's text: names reach the page through textContent only.

/** Grants, weakest first (wire.Grant). */
export const GRANTS = ["view", "control", "admin"];

// wire.MaxParticipants and wire.MaxParticipantName: a roster past them is not the agent's.
const MAX_PARTICIPANTS = 64;
const MAX_NAME = 128;
const MAX_REASON = 256;
const EVENT_KINDS = new Set([
  "joined", "left", "requested", "cancelled", "granted", "declined", "timed-out", "released", "taken", "regranted",
]);
// The agent answers a request within 30 s; a deadline further out than this came from a clock
// that disagrees with this browser's.
export const REQUEST_TIMEOUT_MS = 30000;
const CLOCK_SLACK_MS = 2000;

const str = (v, max) => (typeof v === "string" && v.length <= max ? v : "");

/** mayControl(grant): whether a grant may hold control (an empty grant is an older relay's: control). */
export function mayControl(grant) {
  return grant !== "view";
}

/**
 * parseRoster(data): the roster as {participants: [{sid, name, grant}], controller, request:
 * {from, expiresAt} | null, event: {kind, by, subject, reason} | null}, or null when data is
 * not a roster. Participants without a session id are left out; an unknown grant reads as
 * control, as an empty one does (wire.SessionStart).
 */
export function parseRoster(data) {
  if (data === null || typeof data !== "object" || !Array.isArray(data.participants)) return null;
  const participants = [];
  const seen = new Set();
  for (const p of data.participants.slice(0, MAX_PARTICIPANTS)) {
    const sid = str(p?.sid, 256);
    if (!sid || seen.has(sid)) continue;
    seen.add(sid);
    const grant = GRANTS.includes(p.grant) ? p.grant : "control";
    participants.push({ sid, name: str(p.name, MAX_NAME).trim(), grant });
  }
  const controller = seen.has(data.controller) ? data.controller : "";
  let request = null;
  if (data.request && seen.has(data.request.from) && Number.isFinite(data.request.expires_at)) {
    request = { from: data.request.from, expiresAt: data.request.expires_at };
  }
  let event = null;
  if (data.event && EVENT_KINDS.has(data.event.kind)) {
    event = {
      kind: data.event.kind,
      by: str(data.event.by, 256),
      subject: str(data.event.subject, 256),
      reason: str(data.event.reason, MAX_REASON).trim(),
    };
  }
  return { participants, controller, request, event };
}

/**
 * position(roster, me): where this console (session me) stands — {grant, mayControl, isAdmin,
 * inControl, controller: participant | null, request: {from: participant, expiresAt, mine,
 * toAnswer} | null}. mine: this console asked; toAnswer: this console holds control and may
 * approve or decline. A console missing from its own roster keeps the empty grant's meaning.
 */
export function position(roster, me) {
  const by = (sid) => roster.participants.find((p) => p.sid === sid) ?? null;
  const self = by(me);
  const grant = self?.grant ?? "control";
  const inControl = roster.controller !== "" && roster.controller === me;
  let request = null;
  if (roster.request) {
    const from = by(roster.request.from);
    request = { from, expiresAt: roster.request.expiresAt, mine: from.sid === me, toAnswer: inControl && from.sid !== me };
  }
  return {
    grant,
    mayControl: mayControl(grant),
    isAdmin: grant === "admin",
    inControl,
    controller: by(roster.controller),
    request,
  };
}

/**
 * localDeadline(expiresAt, now): when, on this browser's clock, a request times out. The agent
 * stamps it with its own clock; one that disagrees by more than the request's whole window
 * would show a countdown that makes no sense, so the window is then counted from now.
 */
export function localDeadline(expiresAt, now = Date.now()) {
  const left = expiresAt - now;
  if (left < -CLOCK_SLACK_MS || left > REQUEST_TIMEOUT_MS + CLOCK_SLACK_MS) return now + REQUEST_TIMEOUT_MS;
  return expiresAt;
}

/** secondsLeft(deadline, now): whole seconds until deadline, never below zero. */
export function secondsLeft(deadline, now = Date.now()) {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

/**
 * Names remembers who each session was, so that an event about a session no longer in the
 * roster ("Carol left") still has a name. It keeps the newest few hundred.
 */
export class Names {
  #names = new Map();
  #limit;

  constructor(limit = 256) {
    this.#limit = limit;
  }

  /** learn(roster): remembers the roster's names. */
  learn(roster) {
    for (const p of roster.participants) {
      if (!p.name) continue;
      this.#names.delete(p.sid); // re-inserted as the newest
      this.#names.set(p.sid, p.name);
    }
    while (this.#names.size > this.#limit) this.#names.delete(this.#names.keys().next().value);
  }

  /** name(sid): the session's name, or a stand-in that is never its id. */
  name(sid) {
    return this.#names.get(sid) || "Someone";
  }
}

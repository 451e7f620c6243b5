// Share links of this console's session (/api/v1/console/shares, with the console token the
// page holds): a colleague's link (view only, after signing in; until the session ends) or a
// guest's (view only, no account; expires). The relay re-derives whether this console may
// share at each call; this module only talks to it and puts its answers in a plain shape.
import { callAPI } from "./consoleapi.js";

const SHARES_URL = "/api/v1/console/shares";

/** The durations a guest link may be made for, in seconds (the API takes 5 min to 24 h). */
export const GUEST_TTLS = Object.freeze([
  { seconds: 15 * 60, label: "15 min" },
  { seconds: 60 * 60, label: "1 h" },
  { seconds: 8 * 60 * 60, label: "8 h" },
  { seconds: 24 * 60 * 60, label: "24 h" },
]);

/** createShare(token, kind, ttlSeconds): a new share, with its link (the only time the relay
 * says it). kind: "member" or "guest"; ttlSeconds only for a guest. */
export async function createShare(token, kind, ttlSeconds) {
  const body = kind === "guest" ? { kind, ttl_seconds: ttlSeconds } : { kind };
  const answer = await callAPI("POST", SHARES_URL, { token, body });
  const share = parseShare(answer);
  const link = typeof answer.link === "string" && /^https?:\/\//.test(answer.link) ? answer.link : "";
  if (!share || !link) throw new Error("The relay answered with something this page does not understand.");
  return { ...share, link };
}

/** listShares(token): every share of this console's session, as the relay lists them. */
export async function listShares(token) {
  const answer = await callAPI("GET", SHARES_URL, { token });
  return Array.isArray(answer.shares) ? answer.shares.map(parseShare).filter(Boolean) : [];
}

/** revokeShare(token, id): ends a share and cuts the consoles that joined through it. */
export async function revokeShare(token, id) {
  await callAPI("DELETE", `${SHARES_URL}/${encodeURIComponent(id)}`, { token });
}

/** parseShare(v): {id, kind, expiresAt (ms | null), createdBy (a name), createdAt, joined,
 * revoked, live} or null when v is not a share. live is the relay's word where it says it (a
 * share whose session ended is dead though neither revoked nor expired). Names are other
 * people's text: textContent only. */
export function parseShare(v) {
  if (v === null || typeof v !== "object" || typeof v.id !== "string" || v.id === "") return null;
  if (v.kind !== "member" && v.kind !== "guest") return null;
  const time = (t) => {
    const ms = typeof t === "string" ? Date.parse(t) : Number.NaN;
    return Number.isNaN(ms) ? null : ms;
  };
  const name = [v.created_by_name, v.created_by].find((s) => typeof s === "string" && s.trim() !== "");
  return {
    id: v.id,
    kind: v.kind,
    expiresAt: time(v.expires_at),
    createdBy: name ? name.trim().slice(0, 128) : "",
    createdAt: time(v.created_at),
    joined: Number.isInteger(v.joined) && v.joined > 0 ? v.joined : 0,
    revoked: v.revoked_at != null && v.revoked_at !== "",
    live: v.live !== false,
  };
}

/** liveShares(shares, now): the shares that still let someone in, newest first. */
export function liveShares(shares, now = Date.now()) {
  return shares
    .filter((s) => s.live !== false && !s.revoked && (s.expiresAt === null || s.expiresAt > now))
    .sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
}

/** expiryText(share, now): how long the share lasts, for people. */
export function expiryText(share, now = Date.now()) {
  if (share.expiresAt === null) return "Until this session ends";
  const left = share.expiresAt - now;
  if (left <= 0) return "Expired";
  const at = new Date(share.expiresAt);
  const sameDay = at.toDateString() === new Date(now).toDateString();
  const clock = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const when = sameDay ? clock : `${at.toLocaleDateString([], { weekday: "short" })} ${clock}`;
  return `Expires at ${when} (in ${duration(left)})`;
}

/** joinedText(n): who is watching through a share. */
export function joinedText(n) {
  if (n === 0) return "Nobody joined yet";
  return n === 1 ? "1 person watching" : `${n} people watching`;
}

/** duration(ms): a rounded-up span, "45 min", "2 h 5 min", "1 min". */
export function duration(ms) {
  const minutes = Math.max(1, Math.ceil(ms / 60000));
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

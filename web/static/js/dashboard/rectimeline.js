// A recording's timeline (GET /recordings/{id}/timeline: the JSON lines the relay wrote) as
// what the player draws: per participant, when they watched and when they held control.
// Everything in it came from consoles and agents: names only ever reach textContent.

// Roster event kinds (signaling/wire/control.go) that move control.
const GRANTED = "granted"; // subject holds control
const TAKEN = "taken"; // by (an admin) took it from subject
const RELEASED = "released"; // subject gave it up or lost it

/**
 * spans(lines, durationMS): {duration, participants: [{sid, name, grant, present: [{from,
 * to}], control: [{from, to}]}], controls: [{from, to, sid}]}. Times are milliseconds from the
 * recording's start; open spans end at the duration (the end line's, else durationMS, else the
 * last event's).
 */
export function spans(lines, durationMS = 0) {
  const list = Array.isArray(lines) ? lines.filter((l) => l && typeof l === "object") : [];
  const end = list.find((l) => l.kind === "end");
  let duration = num(end?.duration_ms) || num(durationMS);
  for (const l of list) duration = Math.max(duration, num(l.t_ms));
  const people = new Map(); // sid → participant, in order of appearance
  const person = (sid) => {
    if (typeof sid !== "string" || sid === "") return null;
    if (!people.has(sid)) people.set(sid, { sid, name: "", grant: "", present: [], control: [], joinedAt: null });
    return people.get(sid);
  };
  const controls = [];
  let holder = null; // {sid, from}
  const endControl = (at) => {
    if (!holder) return;
    if (at > holder.from) {
      controls.push({ from: holder.from, to: at, sid: holder.sid });
      people.get(holder.sid)?.control.push({ from: holder.from, to: at });
    }
    holder = null;
  };
  const giveControl = (sid, at) => {
    if (holder?.sid === sid) return;
    endControl(at);
    if (person(sid)) holder = { sid, from: at };
  };
  for (const l of list) {
    const at = num(l.t_ms);
    switch (l.kind) {
      case "participant-joined": {
        const p = person(l.sid);
        if (!p) break;
        if (typeof l.name === "string" && l.name !== "") p.name = l.name;
        if (typeof l.grant === "string") p.grant = l.grant;
        if (p.joinedAt === null) p.joinedAt = at;
        break;
      }
      case "participant-left": {
        const p = person(l.sid);
        if (!p) break;
        if (p.joinedAt !== null) p.present.push({ from: p.joinedAt, to: at });
        p.joinedAt = null;
        if (holder?.sid === p.sid) endControl(at);
        break;
      }
      case "control": {
        const c = l.control;
        if (!c || typeof c !== "object") break;
        if (c.kind === GRANTED) giveControl(c.subject, at);
        else if (c.kind === TAKEN) giveControl(c.by, at);
        else if (c.kind === RELEASED && holder?.sid === c.subject) endControl(at);
        else person(c.subject);
        break;
      }
      default:
    }
  }
  endControl(duration);
  for (const p of people.values()) {
    if (p.joinedAt !== null) p.present.push({ from: p.joinedAt, to: duration });
    if (p.name === "") p.name = p.sid;
    delete p.joinedAt;
  }
  return { duration, participants: [...people.values()], controls };
}

/** "1:02:03" or "2:03" for milliseconds. */
export function clock(ms) {
  const s = Math.max(0, Math.floor(num(ms) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** "3.0 MiB" for a byte count. */
export function bytes(n) {
  let v = num(n);
  if (v < 1024) return `${v} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function num(v) {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

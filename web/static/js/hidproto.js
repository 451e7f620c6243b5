// Encoders for the HID messages of docs/protocol.md §2. Byte 0 is the type; integers are
// big-endian. Each function returns one complete data-channel message.

export const ABS_MAX = 32767;
/** X and Y of a BUTTONS message in relative mode, where there is no absolute position. */
const NO_POSITION = 0xffff;
/** Longest TEXT payload in bytes. */
const TEXT_MAX = 16383;

const KEY = 0x01;
const BUTTONS = 0x02;
const WHEEL = 0x03;
const KEEPALIVE = 0x04;
const RELEASE_ALL = 0x05;
const TEXT = 0x06;
const PROBE = 0x07;
const LAYOUT = 0x08;
/** Agent → console: the answer to a PROBE; the machine's keyboard lights. */
const FRAME_NOTE = 0x80;
const LEDS = 0x81;
const POINTER_ABS = 0x10;
const POINTER_REL = 0x11;

/** The protocol's button bits match MouseEvent.buttons bit for bit. */
export const BUTTON_MASK = 0x1f;

function message(type, length) {
  const view = new DataView(new ArrayBuffer(length));
  view.setUint8(0, type);
  return view;
}

export function key(usage, down) {
  const m = message(KEY, 4);
  m.setUint8(1, down ? 1 : 0);
  m.setUint16(2, usage);
  return m.buffer;
}

export function buttons(mask, x = NO_POSITION, y = NO_POSITION) {
  const m = message(BUTTONS, 6);
  m.setUint8(1, mask & BUTTON_MASK);
  m.setUint16(2, x);
  m.setUint16(4, y);
  return m.buffer;
}

export function wheel(dx, dy) {
  const m = message(WHEEL, 3);
  m.setInt8(1, clamp(dx, -127, 127));
  m.setInt8(2, clamp(dy, -127, 127));
  return m.buffer;
}

export function keepalive() {
  return message(KEEPALIVE, 1).buffer;
}

export function releaseAll() {
  return message(RELEASE_ALL, 1).buffer;
}

export function pointerAbs(seq, mask, x, y) {
  const m = message(POINTER_ABS, 8);
  m.setUint16(1, seq & 0xffff);
  m.setUint8(3, mask & BUTTON_MASK);
  m.setUint16(4, x);
  m.setUint16(6, y);
  return m.buffer;
}

export function pointerRel(mask, dx, dy) {
  const m = message(POINTER_REL, 6);
  m.setUint8(1, mask & BUTTON_MASK);
  m.setInt16(2, clamp(dx, -32768, 32767));
  m.setInt16(4, clamp(dy, -32768, 32767));
  return m.buffer;
}

/**
 * TEXT messages for a string: as many as needed to stay within TEXT_MAX bytes each, split only
 * between code points so that every message is valid UTF-8 on its own.
 */
export function textMessages(text) {
  const encoder = new TextEncoder();
  const out = [];
  let chunk = "";
  let chunkBytes = 0;
  const flush = () => {
    if (chunkBytes === 0) return;
    const body = encoder.encode(chunk);
    const bytes = new Uint8Array(1 + body.length);
    bytes[0] = TEXT;
    bytes.set(body, 1);
    out.push(bytes.buffer);
    chunk = "";
    chunkBytes = 0;
  };
  for (const ch of text) { // iterates by code point
    const n = utf8Length(ch.codePointAt(0));
    if (chunkBytes + n > TEXT_MAX) flush();
    chunk += ch;
    chunkBytes += n;
  }
  flush();
  return out;
}

function utf8Length(cp) {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3; // lone surrogates too: TextEncoder writes U+FFFD, 3 bytes
  return 4;
}

export function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, Math.trunc(v)));
}

/** PROBE: asks the agent which frame first changes after this point (input → first change). */
export function probe(id) {
  const m = message(PROBE, 5);
  m.setUint32(1, id >>> 0);
  return m.buffer;
}

/** Parses an agent → console message: {type: "frame-note", probe, rtp}, {type: "leds", num,
 * caps, scroll}, or null. */
export function parseNote(data) {
  if (!(data instanceof ArrayBuffer) || data.byteLength < 2) return null;
  const v = new DataView(data);
  if (v.getUint8(0) === FRAME_NOTE && data.byteLength === 9) {
    return { type: "frame-note", probe: v.getUint32(1), rtp: v.getUint32(5) };
  }
  if (v.getUint8(0) === LEDS && data.byteLength === 2) {
    const b = v.getUint8(1);
    return { type: "leds", num: !!(b & 1), caps: !!(b & 2), scroll: !!(b & 4) };
  }
  return null;
}

/**
 * actsOnMachine(message): whether a console → agent message acts on the machine (keys, buttons,
 * wheel, motion, text, release-all, layout) rather than only keeping the channel alive or
 * measuring (KEEPALIVE, PROBE). A console that does not hold control sends none of them: the
 * agent would drop them anyway, and count them.
 */
export function actsOnMachine(message) {
  const type = new Uint8Array(message, 0, 1)[0];
  return type !== KEEPALIVE && type !== PROBE;
}

/** LAYOUT: the remote machine's keyboard layout by name ("de-DE"). */
export function layout(name) {
  const bytes = new TextEncoder().encode(name);
  const m = new Uint8Array(1 + bytes.length);
  m[0] = LAYOUT;
  m.set(bytes, 1);
  return m.buffer;
}

// The console's signaling WebSocket (docs/protocol.md §1): the JSON envelope
// {"v":1,"type","sid","data"} in both directions over /ws/console.
import { mark } from "./marks.js";
const PROTOCOL_VERSION = 1;
const SUBPROTOCOL = "kvmrelay.v1";

/** The console endpoint on the origin that served the page. */
export function consoleSocketURL(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws/console`;
}

export class Signaling {
  #ws;
  #sid = null;
  #closed = false;
  #opened = false; // the upgrade succeeded

  /**
   * Opens the socket. Browsers cannot set an Authorization header on a WebSocket, so the token
   * rides in the subprotocol list as "bearer.<jwt>" (the relay checks it before upgrading).
   * onMessage(type, data) gets each valid message; onClose(reason, fatal) runs once, when the
   * socket closes for any reason other than close(). fatal means that retrying cannot help
   * (the relay speaks something this page does not).
   */
  constructor({ url, token, onMessage, onClose }) {
    mark("ws-connecting");
    this.#ws = new WebSocket(url, [SUBPROTOCOL, `bearer.${token}`]);
    this.#ws.onopen = () => {
      this.#opened = true;
      mark("ws-open");
    };
    this.#ws.onmessage = (ev) => {
      const { msg, problem } = parse(ev.data);
      if (problem) {
        this.#fail(onClose, problem);
        return;
      }
      if (msg.type === "welcome" && typeof msg.data.sid === "string") {
        this.#sid = msg.data.sid;
        mark("welcome");
      }
      // A session-scoped message for another session is not for this tab.
      if (msg.sid && this.#sid && msg.sid !== this.#sid) return;
      onMessage(msg.type, msg.data);
    };
    this.#ws.onclose = (ev) => {
      if (this.#closed) return;
      this.#closed = true;
      // Browsers hide why an upgrade failed (401, 403, no route) behind code 1006; opened
      // false tells the caller the upgrade itself failed, so it can ask the relay why.
      onClose(ev.reason || "the connection to the relay was lost", false, this.#opened);
    };
  }

  /** Sends one message of the session; false when the socket is not open. */
  send(type, data = {}) {
    if (this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type, sid: this.#sid ?? undefined, data }));
    return true;
  }

  /** Closes the socket without calling onClose. */
  close() {
    this.#closed = true;
    this.#ws.onmessage = null;
    this.#ws.close(1000);
  }

  #fail(onClose, reason) {
    this.close();
    onClose(reason, true);
  }
}

function parse(text) {
  const bad = { problem: "The relay sent a message this console does not understand." };
  if (typeof text !== "string") return bad;
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return bad;
  }
  if (msg === null || typeof msg !== "object" || typeof msg.type !== "string") return bad;
  if (msg.v !== PROTOCOL_VERSION) {
    return { problem: "The relay speaks a newer protocol than this page. Reload the page." };
  }
  msg.data ??= {};
  if (typeof msg.data !== "object") return bad;
  return { msg };
}

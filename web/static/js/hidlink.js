// The console's end of the two HID data channels the agent opens (docs/protocol.md §2):
// `hid` (reliable, ordered) and `pointer` (unordered, no retransmits). It sends KEEPALIVE
// every 200 ms while `hid` is open, because the agent releases every held key when `hid` has
// been quiet for 500 ms — that is what saves a server from a stuck Ctrl after a network drop.
import * as proto from "./hidproto.js";

const KEEPALIVE_MS = 200;
// The pointer channel never retransmits, but a congested SCTP association still queues. A
// newer position is on its way anyway, so moves are dropped rather than queued behind old ones.
const POINTER_BUFFER_LIMIT = 4096;

export class HidLink {
  #hid = null;
  #pointer = null;
  #timer = 0;
  #onChange;
  #onNote;
  #mayInput = true;

  /** onChange() runs whenever the set of open channels changes; onNote(note) with every
   * message the agent sends on `hid` (proto.parseNote). */
  constructor(onChange = () => {}, onNote = () => {}) {
    this.#onChange = onChange;
    this.#onNote = onNote;
  }

  /** Adopts a data channel announced by the agent; channels with other labels are ignored. */
  adopt(channel) {
    if (channel.label !== "hid" && channel.label !== "pointer") return;
    channel.binaryType = "arraybuffer";
    const update = () => {
      const open = channel.readyState === "open";
      if (channel.label === "hid") {
        if (open) this.#useHid(channel);
        else if (this.#hid === channel) this.#useHid(null);
      } else if (open) {
        this.#pointer = channel;
      } else if (this.#pointer === channel) {
        this.#pointer = null;
      }
      this.#onChange();
    };
    channel.addEventListener("open", update);
    channel.addEventListener("close", update);
    if (channel.label === "hid") {
      channel.addEventListener("message", (e) => {
        const note = proto.parseNote(e.data);
        if (note) this.#onNote(note);
      });
    }
    if (channel.readyState === "open") update();
  }

  get open() {
    return this.#hid !== null;
  }

  /** Whether this console may act on the machine (it holds control of a shared session, or the
   * agent does not share). While false, only keep-alives and probes go out: everything else is
   * dropped here, whichever module tried to send it. */
  get mayInput() {
    return this.#mayInput;
  }

  set mayInput(on) {
    this.#mayInput = on;
  }

  /** Open, and this console may act on the machine. */
  get canInput() {
    return this.open && this.#mayInput;
  }

  /** Sends on the reliable channel; returns false when it is not open, or when the message
   * acts on the machine and this console may not. */
  sendHid(message) {
    if (!this.#hid) return false;
    if (!this.#mayInput && proto.actsOnMachine(message)) return false;
    try {
      this.#hid.send(message);
      return true;
    } catch {
      return false; // the channel closed under us; its close event tidies up
    }
  }

  /** Sends a pointer move, dropping it if the channel is missing or backed up. */
  sendPointer(message) {
    const ch = this.#pointer;
    if (!ch || !this.#mayInput || ch.bufferedAmount > POINTER_BUFFER_LIMIT) return false;
    try {
      ch.send(message);
      return true;
    } catch {
      return false;
    }
  }

  /** Asks the agent to release every key and button (sent on blur, hide and close). */
  releaseAll() {
    return this.sendHid(proto.releaseAll());
  }

  /** Forgets both channels (the peer connection is going away). */
  detach() {
    this.#useHid(null);
    this.#pointer = null;
    this.#onChange();
  }

  #useHid(channel) {
    clearInterval(this.#timer);
    this.#hid = channel;
    this.#timer = channel ? setInterval(() => this.sendHid(proto.keepalive()), KEEPALIVE_MS) : 0;
  }
}

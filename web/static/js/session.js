// One console session: the signaling socket, the peer connection, and the state machine that
// the overlay shows —
//
//   connecting → connected ⇄ reconnecting (attempt n) → failed
//        ↓  ↑                    ↑
//   waiting-agent ───────────────┘               closed (bye, or the person disconnected)
//
// A dropped socket or a failed ICE connection starts over completely — new socket, new `join`,
// new peer connection — after an exponential backoff with jitter, so that a relay restart is
// not met by every console at the same instant.
//
// Relayed video (fan-out): past the relay's peer-to-peer viewer limit, the agent's offer has no
// video (its connection carries the input channels only) and the relay offers a second peer
// connection for the video alone (`video-offer`, answered with `video-answer`, trickled with
// `video-candidate`). Its track plays in the same <video>; its failure starts over like the
// agent connection's.
import { mark } from "./marks.js";
import { Signaling, consoleSocketURL } from "./signaling.js";
import { Peer, decodableCodecs, decodableH264Profiles } from "./peer.js";
import { expired, parseTime, deviceName, sessionStatus } from "./auth.js";

const MAX_ATTEMPTS = 10;
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
// ICE may recover by itself from "disconnected" (a Wi-Fi roam); give it a moment first.
const DISCONNECTED_GRACE_MS = 4000;
// From `join` to a connected peer connection: longer means something is stuck.
const NEGOTIATION_TIMEOUT_MS = 20000;

/** Delay before reconnect attempt n (1, 2, …): exponential, capped, with "equal jitter". */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

export class Session {
  #token; // {token, expiresAt}
  #relayOnly;
  #link;
  #on;
  #ws = null;
  #peer = null;
  #videoPeer = null; // the relay's video connection, when the relay forwards this console's video
  #iceServers = [];
  #serverRelayOnly = false;
  #state = "idle";
  #attempt = 0;
  #retryTimer = 0;
  #graceTimer = 0;
  #videoGraceTimer = 0;
  #negotiationTimer = 0;
  #lastError = null;
  #reason = null; // why the last attempt ended, shown while reconnecting
  #sid = ""; // this console session's id, from the relay's welcome

  /**
   * token: {token, expiresAt}. relayOnly: TURN only (#relay=1). link: the HidLink that adopts
   * the data channels. on: callbacks — state({state, attempt, message}), stream(MediaStream),
   * device(name), token({token, expiresAt}), error({code, message}), peer(Peer|null), and the
   * agent's messages: consent(msg), power(msg), displays(msg), roster(msg, sid) — a shared
   * session's roster with this console's own session id, which the roster names it by.
   */
  constructor({ token, relayOnly, link, on }) {
    this.#token = token;
    this.#relayOnly = relayOnly;
    this.#link = link;
    this.#on = on;
  }

  get lastError() {
    return this.#lastError;
  }

  get peer() {
    return this.#peer;
  }

  /** The peer connection that carries the video: the relay's when it forwards it, else the agent's. */
  get mediaPeer() {
    return this.#videoPeer ?? this.#peer;
  }

  /** Where the video comes from: "relay", "agent", or null before a connection. */
  get videoVia() {
    if (this.#videoPeer) return "relay";
    return this.#peer ? "agent" : null;
  }

  start() {
    this.#attempt = 0;
    this.#connect();
  }

  /** Skips the backoff wait (the person pressed Retry, or the network came back). */
  retryNow() {
    if (this.#state !== "reconnecting" && this.#state !== "failed") return;
    if (this.#state === "failed") this.#attempt = 0;
    this.#connect();
  }

  /** Hands the machine's consent code to the agent; cancel withdraws the request. */
  sendConsent(code) {
    this.#ws?.send("consent-code", { code });
  }

  cancelConsent() {
    this.#ws?.send("consent-code", { cancel: true });
  }

  /** Asks the agent to show another of the machine's screens. */
  sendDisplay(index) {
    this.#ws?.send("display-select", { index });
  }

  /**
   * A move in the handoff of a shared machine's control (wire.Control), always about this
   * console's own session: request, cancel, approve / decline (from: the requesting session),
   * pass (to: the receiving session), release, take. Returns whether it went out.
   */
  control(action, { from, to } = {}) {
    if (!this.#ws) return false;
    const data = { action };
    if (from) data.from = from;
    if (to) data.to = to;
    this.#ws.send("control", data);
    return true;
  }

  /** Asks the agent for a power action: on, off, reset, cycle. */
  sendPower(action) {
    this.#ws?.send("power-action", { action });
  }

  /** Ends the session for good: releases everything, says bye, closes. */
  disconnect() {
    this.#link.releaseAll();
    this.#ws?.send("bye", { reason: "the console was closed" });
    this.#teardown();
    this.#setState("closed", "You closed the console. To use it again, open a new console link.");
  }

  #connect() {
    this.#teardown();
    if (expired(this.#token.expiresAt)) {
      this.#fail("This console session has expired. Start the console again to get a new link.");
      return;
    }
    this.#setState(this.#attempt > 0 ? "reconnecting" : "connecting", this.#attempt > 0 ? this.#reason : null);
    this.#ws = new Signaling({
      url: consoleSocketURL(),
      token: this.#token.token,
      onMessage: (type, data) => this.#message(type, data),
      onClose: (reason, fatal, opened) => {
        if (fatal) this.#fail(reason);
        else if (opened) this.#retry(reason);
        else this.#retryUnlessEnded(reason);
      },
    });
  }

  #message(type, data) {
    switch (type) {
      case "welcome":
        if (typeof data.sid === "string") this.#sid = data.sid;
        this.#iceServers = data.ice_servers;
        this.#serverRelayOnly = data.force_relay === true;
        if (deviceName(data.device)) this.#on.device(deviceName(data.device));
        this.#join();
        break;
      case "agent-status":
        if (data.online === false) this.#waitForAgent();
        else if (data.online === true && this.#state === "waiting-agent") this.#join();
        break;
      case "offer":
        mark("offer");
        this.#offer(data);
        break;
      case "candidate":
        this.#peer?.addCandidate(data);
        break;
      case "video-offer":
        this.#videoOffer(data);
        break;
      case "video-candidate":
        this.#videoPeer?.addCandidate(data);
        break;
      case "token":
        if (typeof data.token === "string" && data.token !== "") {
          this.#token = { token: data.token, expiresAt: parseTime(data.expires_at) };
          this.#on.token(this.#token);
        }
        break;
      case "error":
        this.#error(data);
        break;
      case "bye":
        this.#teardown();
        this.#setState("closed", byeMessage(data.reason));
        break;
      case "consent":
        this.#on.consent?.(data);
        break;
      case "power":
        this.#on.power?.(data);
        break;
      case "displays":
        this.#on.displays?.(data);
        break;
      case "roster":
        // Sent to every participant of a shared machine; the signaling layer already dropped
        // copies addressed to other sessions.
        if (this.#sid) this.#on.roster?.(data, this.#sid);
        break;
      default:
        // A type added by a newer relay: nothing this page can act on.
        break;
    }
  }

  // Asks the agent for a (new) peer connection.
  #join() {
    const codecs = decodableCodecs();
    if (codecs.length === 0) {
      this.#fail("This browser cannot play H.264 or VP8 video. Use a current Chrome, Edge, Firefox or Safari.");
      return;
    }
    // Ask first, build the peer connection second: the offer needs a round trip through the
    // relay and the agent, and constructing an RTCPeerConnection can take tens of milliseconds
    // that then overlap with it instead of delaying it.
    this.#ws.send("join", { codecs, h264_profiles: decodableH264Profiles(), force_relay: this.#relayOnly });
    mark("join");
    this.#closeVideoPeer(); // the relay offers anew for this join, if it forwards the video
    this.#newPeer();
    if (this.#state === "waiting-agent") this.#setState(this.#attempt > 0 ? "reconnecting" : "connecting", this.#reason);
    clearTimeout(this.#negotiationTimer);
    this.#negotiationTimer = setTimeout(() => this.#negotiationExpired(), NEGOTIATION_TIMEOUT_MS);
  }

  #newPeer() {
    this.#closePeer();
    const peer = new Peer({
      iceServers: this.#iceServers,
      relayOnly: this.#relayOnly || this.#serverRelayOnly,
      onCandidate: (c) => this.#ws?.send("candidate", c),
      onTrack: (stream) => this.#on.stream(stream),
      onChannel: (ch) => this.#link.adopt(ch),
      onState: (s) => this.#peerState(peer, s),
    });
    this.#peer = peer;
    this.#on.peer(peer);
  }

  // The relay offers this console's video over its own peer connection: a new one per offer
  // (the relay offers anew after each join).
  async #videoOffer(data) {
    if (typeof data.sdp !== "string" || !this.#ws) return;
    this.#closeVideoPeer();
    const peer = new Peer({
      iceServers: this.#iceServers,
      relayOnly: this.#relayOnly || this.#serverRelayOnly,
      onCandidate: (c) => this.#ws?.send("video-candidate", c),
      onTrack: (stream) => this.#on.stream(stream),
      onChannel: (ch) => ch.close(), // the relay's connection carries video only
      onState: (s) => this.#videoPeerState(peer, s),
    });
    this.#videoPeer = peer;
    this.#on.peer(peer);
    try {
      const sdp = await peer.answer(data.sdp);
      if (peer === this.#videoPeer) this.#ws?.send("video-answer", { sdp });
    } catch (err) {
      if (peer !== this.#videoPeer) return;
      console.error("kvmrelay: cannot answer the relay's video offer:", err);
      this.#retry("the relay's video offer could not be used");
    }
  }

  #videoPeerState(peer, s) {
    if (peer !== this.#videoPeer) return;
    clearTimeout(this.#videoGraceTimer);
    if (s === "failed") {
      this.#retry("the network path to the relay's video failed");
    } else if (s === "disconnected") {
      this.#videoGraceTimer = setTimeout(
        () => this.#retry("the network path to the relay's video was lost"),
        DISCONNECTED_GRACE_MS,
      );
    }
  }

  async #offer(data) {
    if (typeof data.sdp !== "string") return;
    // A second offer means the agent replaced its peer connection (after a `join`); the old
    // DTLS session cannot carry on, so the answer comes from a new one.
    if (!this.#peer || this.#peer.answered) this.#newPeer();
    const peer = this.#peer;
    try {
      const sdp = await peer.answer(data.sdp);
      if (peer === this.#peer) {
        this.#ws?.send("answer", { sdp });
        mark("answer");
      }
    } catch (err) {
      if (peer !== this.#peer) return;
      console.error("kvmrelay: cannot answer the offer:", err);
      this.#retry("the device's offer could not be used");
    }
  }

  // The join's deadline: the connection and its keyboard channel must both be up by then. A
  // connection whose channels never open is an SCTP handshake that gave up on a lossy path:
  // video would play while no key reaches the machine, so a new connection is tried.
  #negotiationExpired() {
    if (this.#state === "connected" && this.#link.open) return;
    this.#retry(
      this.#state === "connected"
        ? "the keyboard channel did not open in time (the network path loses too many packets)"
        : "the device did not set up the connection in time",
    );
  }

  #peerState(peer, s) {
    if (peer !== this.#peer) return;
    clearTimeout(this.#graceTimer);
    if (s === "connected") {
      mark("connected");
      // The keyboard's channels may still be on their way: the timer stays until they open.
      if (this.#link.open) clearTimeout(this.#negotiationTimer);
      this.#attempt = 0;
      this.#setState("connected");
    } else if (s === "failed") {
      this.#retry("the network path to the device failed");
    } else if (s === "disconnected") {
      this.#graceTimer = setTimeout(() => this.#retry("the network path to the device was lost"), DISCONNECTED_GRACE_MS);
    }
  }

  #error(data) {
    const code = typeof data.code === "string" ? data.code : "internal";
    const message = typeof data.message === "string" && data.message !== "" ? data.message : null;
    this.#lastError = { code, message };
    this.#on.error(this.#lastError);
    switch (code) {
      case "agent-offline":
        this.#waitForAgent();
        break;
      case "session-ended":
        // Final: stopped by someone, timed out, or the device was revoked. Reconnecting would
        // only be refused, so say why and stop.
        this.#teardown();
        this.#setState("closed", message ?? "This console session has ended. Start a new session to connect again.");
        break;
      case "unauthorized":
        this.#fail(message ?? "The relay did not accept this console link. Start the console again to get a new one.");
        break;
      case "forbidden":
        this.#fail(message ?? "You are not allowed to use this console.");
        break;
      case "bad-message":
      case "unsupported-version":
        this.#fail(message ?? "This page and the relay do not understand each other. Reload the page.");
        break;
      default:
        this.#retry(message ?? "the relay had a problem");
    }
  }

  #waitForAgent() {
    clearTimeout(this.#negotiationTimer);
    clearTimeout(this.#graceTimer);
    this.#closeVideoPeer();
    this.#closePeer();
    this.#setState("waiting-agent");
  }

  /**
   * The upgrade failed: the relay may have refused it because the session ended while this
   * console was away (its reconnect grace ran out, someone stopped it). Ask, and say so
   * instead of retrying a session that is over.
   */
  async #retryUnlessEnded(reason) {
    const ws = this.#ws;
    const status = await sessionStatus(this.#token.token);
    if (this.#ws !== ws || this.#state === "failed" || this.#state === "closed") return;
    if (status.live === false) {
      // As a session-ended message on a live connection: final, say why.
      this.#error({ code: "session-ended", message: status.message });
      return;
    }
    this.#retry(reason);
  }

  #retry(reason) {
    if (this.#state === "failed" || this.#state === "closed") return;
    this.#teardown();
    this.#attempt++;
    if (this.#attempt > MAX_ATTEMPTS) {
      this.#fail(
        `Gave up after ${MAX_ATTEMPTS} attempts: ${reason}. Check your network and press Retry; ` +
          "if it keeps failing, start the console again for a new link.",
      );
      return;
    }
    this.#reason = reason;
    this.#setState("reconnecting", reason);
    this.#retryTimer = setTimeout(() => this.#connect(), backoffDelay(this.#attempt));
  }

  #fail(message) {
    this.#teardown();
    this.#setState("failed", message);
  }

  #teardown() {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#negotiationTimer);
    this.#closeVideoPeer();
    this.#closePeer();
    this.#ws?.close();
    this.#ws = null;
  }

  #closeVideoPeer() {
    clearTimeout(this.#videoGraceTimer);
    if (!this.#videoPeer) return;
    this.#videoPeer.close();
    this.#videoPeer = null;
    this.#on.peer(this.#peer);
  }

  #closePeer() {
    if (!this.#peer) return;
    this.#link.releaseAll();
    this.#link.detach();
    this.#peer.close();
    this.#peer = null;
    this.#on.peer(null);
  }

  #setState(state, message = null) {
    this.#state = state;
    this.#on.state({ state, attempt: this.#attempt, message });
  }
}

function byeMessage(reason) {
  const why = typeof reason === "string" && reason !== "" ? ` (${reason})` : "";
  return `The session was ended${why}. To connect again, start the console again to get a new link.`;
}

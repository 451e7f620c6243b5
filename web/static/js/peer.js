// The console's RTCPeerConnection. The agent is the offerer (it owns the video track and the
// data channels); the console answers, trickles its candidates, and tunes the video receiver
// for the lowest delay.
import { mark } from "./marks.js";

/** The video codecs this browser can decode, in the relay's vocabulary ("video/H264"). */
export function decodableCodecs() {
  const caps = globalThis.RTCRtpReceiver?.getCapabilities?.("video");
  const have = new Set((caps?.codecs ?? []).map((c) => c.mimeType.toLowerCase()));
  return ["video/H264", "video/VP8"].filter((m) => have.has(m.toLowerCase()));
}

/** The H.264 profile-level-ids this browser decodes with packetization-mode 1 ("42e01f"): an
 * agent forwarding a camera's H.264 checks the camera's profile against them. */
export function decodableH264Profiles() {
  const caps = globalThis.RTCRtpReceiver?.getCapabilities?.("video");
  const out = new Set();
  for (const c of caps?.codecs ?? []) {
    if (c.mimeType.toLowerCase() !== "video/h264") continue;
    const fmtp = c.sdpFmtpLine ?? "";
    if (!/(^|;)\s*packetization-mode=1/.test(fmtp)) continue;
    const m = /profile-level-id=([0-9a-fA-F]{6})/.exec(fmtp);
    if (m) out.add(m[1].toLowerCase());
  }
  return [...out];
}

/**
 * Initializes the browser's WebRTC stack and codec tables while the page is still redeeming its
 * link: the first RTCPeerConnection and capability query of a page are markedly slower than
 * later ones, and this moves that cost off the path to the first frame.
 */
export function warmUp() {
  try {
    decodableCodecs();
    new RTCPeerConnection().close();
  } catch {
    // No WebRTC here: the session will say so when it starts.
  }
}

export class Peer {
  #pc;
  #early = []; // remote candidates that came before the offer
  #lastMid = { sdpMid: "0", sdpMLineIndex: 0 };

  /**
   * iceServers: from `welcome`. relayOnly: gather only TURN candidates. onCandidate(init) gets
   * each local candidate, and {candidate: ""} at the end of gathering. onTrack(stream),
   * onChannel(channel), onState(connectionState).
   */
  constructor({ iceServers, relayOnly, onCandidate, onTrack, onChannel, onState }) {
    this.#pc = new RTCPeerConnection({
      iceServers: sanitizeIceServers(iceServers),
      iceTransportPolicy: relayOnly ? "relay" : "all",
      bundlePolicy: "max-bundle",
    });
    this.#pc.onicecandidate = (e) => {
      if (e.candidate) {
        const c = e.candidate.toJSON();
        this.#lastMid = { sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
        onCandidate(c);
      } else {
        onCandidate({ candidate: "", ...this.#lastMid });
      }
    };
    this.#pc.ontrack = (e) => {
      mark("track");
      // Render each frame as soon as it is decoded: a console is interactive, smoothness is
      // worth less than delay. jitterBufferTarget is the standard knob, playoutDelayHint the
      // older Chromium one.
      const r = e.receiver;
      try {
        if ("jitterBufferTarget" in r) r.jitterBufferTarget = 0;
        if ("playoutDelayHint" in r) r.playoutDelayHint = 0;
      } catch {
        // An implementation that rejects 0 keeps its default; video still plays.
      }
      onTrack(e.streams[0] ?? new MediaStream([e.track]));
    };
    this.#pc.ondatachannel = (e) => onChannel(e.channel);
    this.#pc.onconnectionstatechange = () => onState(this.#pc.connectionState);
  }

  get pc() {
    return this.#pc;
  }

  /** Whether an offer has been applied (a later offer belongs to a new peer connection). */
  get answered() {
    return this.#pc.remoteDescription !== null;
  }

  /** Applies the agent's offer and returns the answer SDP. */
  async answer(sdp) {
    await this.#pc.setRemoteDescription({ type: "offer", sdp });
    const early = this.#early;
    this.#early = [];
    for (const c of early) await this.#add(c);
    await this.#pc.setLocalDescription();
    return this.#pc.localDescription.sdp;
  }

  /** Adds a remote candidate, holding it until the offer has arrived. */
  async addCandidate(init) {
    if (!this.#pc.remoteDescription) {
      this.#early.push(init);
      return;
    }
    await this.#add(init);
  }

  close() {
    this.#pc.onicecandidate = null;
    this.#pc.ontrack = null;
    this.#pc.ondatachannel = null;
    this.#pc.onconnectionstatechange = null;
    this.#pc.close();
  }

  async #add(init) {
    try {
      await this.#pc.addIceCandidate({
        candidate: init.candidate ?? "",
        sdpMid: init.sdpMid ?? null,
        sdpMLineIndex: init.sdpMLineIndex ?? null,
      });
    } catch (err) {
      // One unusable candidate (another address family, a malformed line) must not end the
      // session; the others may well work.
      console.warn("kvmrelay: ignored a remote candidate:", err.message);
    }
  }
}

/** Copies only the fields RTCPeerConnection knows from the relay's ice_servers. */
function sanitizeIceServers(list) {
  if (!Array.isArray(list)) return [];
  return list
    .filter((s) => s && (typeof s.urls === "string" || Array.isArray(s.urls)))
    .map((s) => {
      const out = { urls: s.urls };
      if (typeof s.username === "string") out.username = s.username;
      if (typeof s.credential === "string") out.credential = s.credential;
      return out;
    });
}

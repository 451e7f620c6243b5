// Connection and video statistics from RTCPeerConnection.getStats(), once a second. Rates are
// differences between two reports, so the first report after a new connection has none.
export const STATS_INTERVAL_MS = 1000;

/**
 * Reads one stats report and, with the previous sample, returns a plain summary object:
 * { width, height, fpsDecoded, framesDecoded, framesDropped, bitrateKbps, rttMs, path, codec,
 *   jitterBufferMs, decodeMs, packetsLost, remoteAddress, remoteType, at }. remoteAddress is the far
 * end of the selected candidate pair ("ip:port"): the agent's, the relay's, or a TURN server's;
 * remoteType its candidate type (host, srflx, prflx, relay). Chromium does not reveal a
 * peer-reflexive candidate's address (one learned from a check before its trickled candidate
 * arrived), so remoteAddress is null for a "prflx" pair.
 * Fields the browser did not report are null.
 */
export async function sample(pc, previous) {
  const report = await pc.getStats();
  let video = null;
  let pair = null;
  let transport = null;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") video = s;
    else if (s.type === "transport") transport = s;
  });
  if (transport?.selectedCandidatePairId) pair = report.get(transport.selectedCandidatePairId);
  if (!pair) {
    // Browsers without selectedCandidatePairId mark the pair in use as nominated.
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair ??= s;
    });
  }
  const at = performance.now();
  const out = {
    at,
    width: video?.frameWidth ?? null,
    height: video?.frameHeight ?? null,
    framesDecoded: video?.framesDecoded ?? null,
    framesDropped: video?.framesDropped ?? null,
    packetsLost: video?.packetsLost ?? null,
    codec: codecName(video && report.get(video.codecId)),
    rttMs: pair?.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : null,
    path: pathOf(pair && report.get(pair.localCandidateId), pair && report.get(pair.remoteCandidateId)),
    remoteAddress: addressOf(pair && report.get(pair.remoteCandidateId)),
    remoteType: (pair && report.get(pair.remoteCandidateId)?.candidateType) ?? null,
    fpsDecoded: null,
    bitrateKbps: null,
    jitterBufferMs: null,
    decodeMs: null,
    raw: video && {
      bytes: video.bytesReceived,
      frames: video.framesDecoded,
      jbDelay: video.jitterBufferDelay,
      jbCount: video.jitterBufferEmittedCount,
      decodeTime: video.totalDecodeTime,
    },
  };
  const a = previous?.raw;
  const b = out.raw;
  if (a && b) {
    const seconds = (at - previous.at) / 1000;
    if (seconds > 0) {
      out.fpsDecoded = (b.frames - a.frames) / seconds;
      out.bitrateKbps = ((b.bytes - a.bytes) * 8) / seconds / 1000;
    }
    out.jitterBufferMs = ratioMs(b.jbDelay - a.jbDelay, b.jbCount - a.jbCount);
    out.decodeMs = ratioMs(b.decodeTime - a.decodeTime, b.frames - a.frames);
  }
  return out;
}

function addressOf(candidate) {
  const ip = candidate?.address ?? candidate?.ip;
  if (!ip || candidate.port == null) return null;
  return ip.includes(":") ? `[${ip}]:${candidate.port}` : `${ip}:${candidate.port}`;
}

function ratioMs(seconds, count) {
  return Number.isFinite(seconds) && count > 0 ? (seconds / count) * 1000 : null;
}

function codecName(codec) {
  if (!codec?.mimeType) return null;
  return codec.mimeType.replace(/^video\//i, "");
}

/** "direct", or "relayed (udp|tcp|tls)" when a TURN server carries the media. */
function pathOf(local, remote) {
  if (!local || !remote) return null;
  if (local.candidateType === "relay") return `relayed (${local.relayProtocol ?? "udp"})`;
  // The agent's side is relayed: how it reaches its TURN server is not visible from here.
  if (remote.candidateType === "relay") return "relayed (by the device's side)";
  return "direct";
}

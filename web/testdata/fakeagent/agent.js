// A stand-in for kvmagent, for the console's end-to-end test. It runs in a second tab of the
// test's Chromium, speaks the agent side of docs/protocol.md through the test's fake relay, sends
// a canvas as the video track with the latency strip drawn at the top-left, and records every HID
// message it receives.
const W = 1280;
const H = 720;

const agent = {
  hid: [], // hex strings of the messages on `hid`
  pointer: [], // and on `pointer`
  keyDowns: 0, // KEY downs seen: what the strip shows
  sessions: 0, // session-start messages
  state: "new", // the peer connection's state
};
window.agent = agent;

const canvas = document.createElement("canvas");
canvas.width = W;
canvas.height = H;
const g = canvas.getContext("2d");
const stream = canvas.captureStream(60);

function draw() {
  const bg = g.createLinearGradient(0, 0, W, H);
  bg.addColorStop(0, "#1d2b4a");
  bg.addColorStop(1, "#3b2750");
  g.fillStyle = bg;
  g.fillRect(0, 0, W, H);
  // A terminal window, so that the screenshot looks like a remote desktop.
  g.fillStyle = "#0f1115";
  g.fillRect(220, 140, 840, 440);
  g.fillStyle = "#2a2e36";
  g.fillRect(220, 140, 840, 34);
  for (const [i, c] of ["#ff5f57", "#febc2e", "#28c840"].entries()) {
    g.fillStyle = c;
    g.beginPath();
    g.arc(242 + i * 22, 157, 6, 0, 7);
    g.fill();
  }
  g.font = "20px monospace";
  g.fillStyle = "#c9d1d9";
  const lines = [
    "admin@lab-server-01:~$ uptime",
    " 10:42:07 up 41 days,  3:12,  1 user,  load average: 0.08, 0.11, 0.09",
    "admin@lab-server-01:~$ systemctl is-system-running",
    "running",
    `admin@lab-server-01:~$ echo keys pressed: ${agent.keyDowns}`,
    `keys pressed: ${agent.keyDowns}`,
    "admin@lab-server-01:~$ █",
  ];
  lines.forEach((l, i) => g.fillText(l, 244, 214 + i * 30));
  // The latency strip (DESIGN.md): 16 blocks of 32×32, block i white when bit i of the count is set.
  for (let i = 0; i < 16; i++) {
    g.fillStyle = (agent.keyDowns >> i) & 1 ? "#fff" : "#000";
    g.fillRect(i * 32, 0, 32, 32);
  }
}
draw();
// Timers, not animation frames: this tab is in the background while the console's tab is driven.
setInterval(draw, 16);

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join(" ");

const ws = new WebSocket(`ws://${location.host}/ws/agent`);
const send = (type, sid, data) => ws.send(JSON.stringify({ v: 1, type, sid, data }));
let pc = null;

ws.onopen = () => send("hello", undefined, { version: "fake", sources: ["testpattern"], codecs: ["video/VP8"] });
ws.onmessage = async (ev) => {
  const { type, sid, data } = JSON.parse(ev.data);
  if (type === "session-start") {
    agent.sessions++;
    pc?.close();
    pc = new RTCPeerConnection({ iceServers: data.ice_servers ?? [] });
    const mine = pc;
    pc.onconnectionstatechange = () => (agent.state = mine.connectionState);
    pc.onicecandidate = (e) => {
      if (e.candidate) send("candidate", sid, e.candidate.toJSON());
    };
    const { sender } = pc.addTransceiver(stream.getVideoTracks()[0], { direction: "sendonly", streams: [stream] });
    // The latency strip is defined in source pixels: the encoder must not scale the frame down
    // when this busy test machine runs short of CPU.
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    await sender.setParameters(params).catch(() => {});
    const hid = pc.createDataChannel("hid", { ordered: true });
    const pointer = pc.createDataChannel("pointer", { ordered: false, maxRetransmits: 0 });
    hid.binaryType = "arraybuffer";
    pointer.binaryType = "arraybuffer";
    hid.onmessage = (e) => {
      const b = new Uint8Array(e.data);
      if (b[0] === 0x01 && b[1] === 1) agent.keyDowns++;
      agent.hid.push(hex(e.data));
    };
    pointer.onmessage = (e) => agent.pointer.push(hex(e.data));
    await pc.setLocalDescription();
    send("offer", sid, { sdp: pc.localDescription.sdp });
  } else if (type === "answer" && pc) {
    await pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
  } else if (type === "candidate" && pc && data.candidate) {
    await pc.addIceCandidate(data);
  }
};

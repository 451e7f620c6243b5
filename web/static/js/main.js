// The console page: gets a token, runs the session, and wires input, toolbar and statistics
// together. Each piece lives in its own module; this file only connects them.
import { mark } from "./marks.js";
import { readFragment, scrubFragment, redeem, saveToken, loadToken, forgetToken } from "./auth.js";
import { Session } from "./session.js";
import { warmUp } from "./peer.js";
import { HidLink } from "./hidlink.js";
import { Keyboard } from "./keyboard.js";
import { Pointer } from "./pointer.js";
import { playCombo } from "./combos.js";
import { Paste, sendText } from "./paste.js";
import { Consent } from "./consent.js";
import { Power } from "./power.js";
import { Displays } from "./displays.js";
import { Sharing } from "./sharing.js";
import { ShareDialog } from "./sharedialog.js";
import { GuestForm } from "./guest.js";
import { LatencyMeter } from "./latency.js";
import { FrameWatcher } from "./frames.js";
import { ChangeMeter } from "./firstchange.js";
import { probe } from "./hidproto.js";
import { LayoutChoice } from "./layout.js";
import { sample, STATS_INTERVAL_MS } from "./stats.js";
import { StatsView } from "./statsview.js";
import { Overlay } from "./overlay.js";
import { Toolbar } from "./toolbar.js";
import { Toast } from "./toast.js";
import { toggleFullscreen, watchFullscreen } from "./fullscreen.js";
import { installHooks } from "./hooks.js";

const $ = (id) => document.getElementById(id);
const stage = $("stage");
const video = $("screen");

let session = null;
let state = "starting";
let stats = null;
let pageError = null; // a failure before there is a session (the link could not be redeemed)
let deviceLabel = null;
let consoleToken = null; // {token, expiresAt}: the running session's, refreshed by the relay

let retryRedeem = null; // set while a link could not be redeemed for a reason that may pass
const overlay = new Overlay(() => (session ? session.retryNow() : retryRedeem?.()));
const toolbar = new Toolbar();
const toast = new Toast();
const statsView = new StatsView();
const meter = new LatencyMeter();
const changes = new ChangeMeter();
const frames = new FrameWatcher(video, meter, changes);

let linkWasOpen = false;
const link = new HidLink(
  () => {
    if (!link.open) {
      keyboard.reset();
      pointer.reset();
    } else if (!linkWasOpen) {
      layout.send(); // a new hid channel: the agent learns the target's layout first
    }
    linkWasOpen = link.open;
    refreshControls();
  },
  (note) => {
    if (note.type === "frame-note") changes.note(note.probe, note.rtp);
    else if (note.type === "leds") showLEDs(note);
  },
);

const live = () => state === "connected" && link.open;
// The states of a session that has a token: it may be shared.
const RUNNING = new Set(["connecting", "waiting-agent", "connected", "reconnecting"]);
// Keys, pointer, paste and combinations reach the machine only from the console in control of
// a shared session (always, before any roster: an agent that does not share).
const mayType = () => live() && sharing.inControl;

// Keys belong to the remote when they are typed on the screen itself, not in the toolbar, a
// menu or a dialog.
const inZone = (target) => target === stage || target === document.body || target === document.documentElement;

const layout = new LayoutChoice(link);

const keyboard = new Keyboard({
  link,
  inZone,
  isActive: mayType,
  mayShortcut: live,
  shortcut,
  onKeyDownSent: (t) => meter.keyDown(t),
  beforeKeyDown: (t) => link.sendHid(probe(changes.probe(t))),
});

const pointer = new Pointer({
  video,
  surface: stage,
  link,
  isActive: mayType,
  onLockChange: (locked) => {
    if (!locked && pointer.relative && sharing.inControl) toast.show("Pointer released. Click the screen to capture it again.");
  },
});

const paste = new Paste({ type: typeText, onClose: focusScreen });
const consent = new Consent({
  send: (code) => session?.sendConsent(code),
  cancel: () => session?.cancelConsent(),
  onClose: focusScreen,
});
const power = new Power({ send: (action) => session?.sendPower(action), toast: (text) => toast.show(text) });
const displays = new Displays({ send: (index) => session?.sendDisplay(index), toast: (text) => toast.show(text) });
const sharing = new Sharing({
  send: (action, ids) => session?.control(action, ids) ?? false,
  toast: (text) => toast.show(text),
  onChange: controlChanged,
  onClose: focusScreen,
});
const shareDialog = new ShareDialog({ token: () => consoleToken?.token ?? null, onClose: focusScreen });
const guestForm = new GuestForm({
  onJoined: (t) => {
    const { relayOnly } = readFragment();
    scrubFragment(relayOnly); // the guest link is spent for this tab: a reload resumes the token
    const token = { token: t.token, expiresAt: t.expiresAt, device: t.device, person: t.person, grant: t.grant };
    saveToken(token);
    if (t.sharedBy) toast.show(`${t.sharedBy} shared this console with you. You can watch, not type.`);
    run(token, relayOnly);
  },
  onRefused: (message) => {
    scrubFragment(readFragment().relayOnly);
    pageError = { code: "guest", message };
    setState({ state: "failed", message, retry: false });
  },
});

// Shortcuts the page keeps for itself. Ctrl+Alt+Shift+letter is rare enough on any system not to
// be missed on the remote.
function shortcut(e) {
  if (e.ctrlKey && e.altKey && e.shiftKey && !e.metaKey) {
    if (e.code === "KeyS") return local(toggleStats);
    if (e.code === "KeyF") return local(fullscreen);
    // A request waiting for this console's answer comes first: it has seconds to live.
    if (e.code === "KeyM") return local(() => sharing.focusPrompt() || toolbar.focus());
  }
  // Ctrl+Shift+V (⌘⇧V): let the browser paste, and type what it hands over (see "paste" below).
  if (e.code === "KeyV" && e.shiftKey && (e.ctrlKey || e.metaKey) && !e.altKey) return "browser";
  return null;
}

function local(fn) {
  fn();
  return "local";
}

function focusScreen() {
  stage.focus({ preventScroll: true });
}

function typeText(text) {
  const n = sendText(link, text);
  // The agent's typing moves the latency strip by amounts the meter cannot predict.
  meter.resync();
  toast.show(n ? `Typing ${n.toLocaleString()} characters on the remote…` : "Not connected: nothing was typed.");
}

// The machine's keyboard lights, when its input reads them back (a USB gadget).
function showLEDs(leds) {
  const box = $("leds");
  box.hidden = false;
  for (const el of box.querySelectorAll("[data-led]")) el.dataset.on = String(!!leds[el.dataset.led]);
}

function toggleStats() {
  statsView.shown = !statsView.shown;
  $("btn-stats").setAttribute("aria-pressed", String(statsView.shown));
  renderStats();
}

async function fullscreen() {
  try {
    const locked = await toggleFullscreen();
    if (locked) toast.show("Esc, Alt+Tab and the Windows key now go to the remote. Hold Esc to leave full screen.");
  } catch {
    toast.show("This browser refused full screen.");
  }
}

function refreshControls() {
  for (const b of document.querySelectorAll("[data-live]")) b.disabled = !live();
  // What acts on the machine is for the console in control; the others are told why not.
  const watching = !sharing.inControl;
  const who = sharing.controllerName;
  for (const b of document.querySelectorAll("[data-control]")) {
    b.dataset.freeTitle ??= b.title;
    b.disabled = watching || (b.hasAttribute("data-live") && !live());
    b.title = watching
      ? `${b.dataset.freeTitle} — only the person in control can use this (${who ? `${who} is in control` : "request control first"})`
      : b.dataset.freeTitle;
  }
  if (!live() || watching) toolbar.closeMenu();
  // Sharing is for a running session, and for the participants who may hold control: as the
  // roster says, or before any roster as the link's answer said (an older relay says nothing:
  // then it is offered, and the relay refuses a viewer anyway).
  const mayControl = sharing.known ? sharing.mayControl : consoleToken?.grant !== "view";
  shareDialog.allowed = session !== null && RUNNING.has(state) && mayControl;
}

// This console gained or lost control of a shared machine (or a roster changed who holds it).
function controlChanged({ inControl, was }) {
  link.mayInput = inControl;
  document.body.classList.toggle("watching", !inControl);
  stage.dataset.label ??= stage.getAttribute("aria-label");
  const who = sharing.controllerName;
  stage.setAttribute("aria-label", inControl
    ? stage.dataset.label
    : `Remote screen, watching: ${who ? `${who} is in control` : "nobody is in control"}. Your keys stay on this computer.`);
  if (was && !inControl) {
    // Lost, maybe in the middle of a key press: the agent released what this console held on
    // the machine, so forget it here without a key-up, and stop capturing.
    keyboard.reset();
    pointer.reset();
    if (pointer.locked) document.exitPointerLock();
    paste.close();
    power.dismiss();
  } else if (!was && inControl && link.open) {
    layout.send(); // pasted text is typed with this console's layout now
  }
  consent.allow(inControl, sharing.controllerName);
  refreshControls();
}

function setState(view) {
  state = view.state;
  overlay.show(view);
  toolbar.pinned = state !== "connected";
  // An agent that went away may come back without sharing; a closed session shares nothing.
  if (state === "waiting-agent" || state === "closed" || state === "failed") sharing.reset();
  refreshControls();
  if (state === "closed") {
    forgetToken();
    shareDialog.reset();
  }
  // A session that ended (its consent window closed, an admin stopped it) asks for no code:
  // the overlay says why.
  if (state === "closed" || state === "failed") consent.dismiss();
}

function renderStats() {
  statsView.render(stats, frames.fps, meter, changes);
  if (stats?.path) {
    const rtt = stats.rttMs == null ? "" : ` · ${Math.round(stats.rttMs)} ms`;
    // Video forwarded by the relay (past its peer-to-peer viewer limit) is worth saying: it
    // explains a few more milliseconds than the person's colleague sees.
    const via = stats.videoVia === "relay" ? " · video via the relay" : "";
    overlay.connectedDetail = `Connected · ${stats.path}${rtt}${via}`;
  }
}

async function pollStats() {
  // The connection carrying the video: the relay's when it forwards this console's video.
  const peer = session?.mediaPeer;
  if (peer && state === "connected") {
    try {
      const next = await sample(peer.pc, stats);
      if (session?.mediaPeer === peer) stats = { ...next, videoVia: session.videoVia };
    } catch {
      // The peer connection closed between the check and the read; the next tick has a new one.
    }
  }
  renderStats();
}

function wireToolbar() {
  $("btn-cad").addEventListener("click", () => {
    playCombo(keyboard, "ControlLeft AltLeft Delete");
    focusScreen();
  });
  for (const item of document.querySelectorAll("#keys-menu [data-keys]")) {
    item.addEventListener("click", () => {
      playCombo(keyboard, item.dataset.keys);
      toolbar.closeMenu();
      focusScreen();
    });
  }
  $("keys-menu").addEventListener("toggle", (e) => {
    if (e.newState === "closed" && !document.activeElement?.closest?.("#toolbar")) focusScreen();
  });
  $("btn-paste").addEventListener("click", () => paste.open());
  $("btn-mouse").addEventListener("click", () => {
    pointer.relative = !pointer.relative;
    $("btn-mouse").setAttribute("aria-pressed", String(pointer.relative));
    toast.show(pointer.relative
      ? "Relative mouse: click the screen to capture the pointer, press Esc to release it."
      : "Absolute mouse: the pointer follows your cursor.");
    focusScreen();
  });
  $("btn-stats").addEventListener("click", () => {
    toggleStats();
    focusScreen();
  });
  $("btn-fullscreen").addEventListener("click", () => {
    fullscreen();
    focusScreen();
  });
  $("btn-disconnect").addEventListener("click", () => session?.disconnect());
  $("toolbar").addEventListener("keydown", (e) => {
    if (e.key === "Escape") focusScreen();
  });
  watchFullscreen((on) => $("btn-fullscreen").setAttribute("aria-pressed", String(on)));
}

function wireVideo() {
  video.addEventListener("loadeddata", () => (overlay.hasVideo = true));
  video.addEventListener("emptied", () => (overlay.hasVideo = false));
}

async function start() {
  const { code, relayOnly, invite, guest } = readFragment();
  if (invite) {
    // Invitation, password-reset and colleagues' share links (/console/#invite=…, #reset=…,
    // #share=…) are the dashboard's, at the relay's root: they need an account. The fragment
    // goes along and never reaches a server.
    window.location.replace(`/${window.location.hash}`);
    return;
  }
  if (guest) {
    // A guest link works for anyone until it expires; it stays in the address bar until the
    // guest is in, so that reloading this form does not lose it.
    setState({ state: "guest-name" });
    guestForm.show(guest);
    return;
  }
  if (code) {
    // The code works once: take it out of the address bar (and history) before anything else.
    scrubFragment(relayOnly);
    openLink(code, relayOnly);
    return;
  }
  const token = loadToken();
  if (!token) {
    $("link-example").textContent = `${location.origin}${location.pathname}#code=…`;
    setState({ state: "needs-link" });
    return;
  }
  run(token, relayOnly);
}

// Redeems a one-time code and runs the session; on failure shows why.
async function openLink(code, relayOnly) {
  setState({ state: "redeeming" });
  let r;
  try {
    const pending = redeem(code);
    warmUp(); // runs while the request is on the network
    r = await pending;
    mark("redeemed");
  } catch (err) {
    pageError = { code: "redeem", message: err.message };
    // A code that was not used up (network, rate limit) can be tried again from here.
    retryRedeem = err.retryable ? () => openLink(code, relayOnly) : null;
    setState({ state: "failed", message: err.message, retry: err.retryable });
    return;
  }
  retryRedeem = null;
  pageError = null;
  const token = { token: r.token, expiresAt: r.expiresAt, device: r.device, person: r.person, grant: r.grant };
  saveToken(token);
  run(token, relayOnly);
}

// Runs the console session with a token.
function run(token, relayOnly) {
  consoleToken = token;
  deviceLabel = token.device ?? null;
  layout.device = deviceLabel;
  if (deviceLabel) overlay.device = deviceLabel;
  if (token.person) overlay.person = token.person;

  session = new Session({
    token,
    relayOnly,
    link,
    on: {
      state: setState,
      stream: (stream) => {
        meter.reset();
        changes.reset();
        overlay.hasVideo = false;
        video.srcObject = stream;
        video.play().catch(() => {
          // Autoplay of a muted video is always allowed; a refusal here means the element was
          // emptied meanwhile, and the next stream plays.
        });
      },
      device: (name) => {
        // The relay's welcome names the device by id; the name from the link wins.
        if (deviceLabel) return;
        deviceLabel = name;
        overlay.device = name;
        layout.device = name;
        saveToken({ ...token, device: name });
      },
      token: (t) => {
        token = { ...t, device: deviceLabel, person: token.person, grant: token.grant };
        consoleToken = token;
        saveToken(token);
      },
      error: (err) => {
        if (err.code !== "agent-offline" && err.message) toast.show(err.message);
      },
      peer: () => {
        stats = null;
      },
      power: (msg) => power.update(msg),
      displays: (msg) => displays.update(msg),
      consent: (msg) => {
        consent.update(msg);
        if (msg?.state === "accepted") toast.show("The machine accepted the consent code; connecting…");
      },
      roster: (msg, sid) => sharing.update(msg, sid),
    },
  });
  window.addEventListener("online", () => session.retryNow());
  session.start();
}

installHooks(
  {
    state: () => state,
    stats: () => stats,
    stripCount: () => frames.stripCount,
    latencySamples: () => meter.samples,
    latencyTotal: () => meter.total,
    latencySplit: () => meter.lastSplit,
    firstChangeSamples: () => changes.samples,
    firstChangeByKey: () => changes.samplesByKey,
    latencyByKey: () => meter.samplesByKey,
    framesDecoded: () => stats?.framesDecoded ?? 0,
    lastError: () => session?.lastError ?? pageError,
    consent: () => consent.state,
    power: () => power.state,
    roster: () => sharing.snapshot,
    inControl: () => sharing.inControl,
    controlBar: () => sharing.barMode,
    stripTrace: () => frames.stripTrace,
  },
  video,
  {
    requestControl: () => sharing.requestControl(),
    cancelRequest: () => sharing.cancelRequest(),
    approve: () => sharing.approve(),
    decline: () => sharing.decline(),
    release: () => sharing.release(),
    pass: (name) => sharing.pass(String(name)),
    take: () => sharing.take(),
    traceStrip: (on) => frames.traceStrip(Boolean(on)),
  },
);

toolbar.start();
keyboard.start();
pointer.start();
paste.start();
consent.start();
power.start();
displays.start();
sharing.start();
shareDialog.start();
frames.start();
wireToolbar();
wireVideo();
window.addEventListener("paste", (e) => {
  if (!mayType() || !inZone(e.target) || paste.isOpen) return;
  e.preventDefault();
  const text = e.clipboardData?.getData("text/plain") ?? "";
  if (text) typeText(text);
});
setInterval(pollStats, STATS_INTERVAL_MS);
focusScreen();
start();

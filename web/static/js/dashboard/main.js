// The dashboard page: signs in (or resumes from the refresh cookie), accepts invitations, and
// shows the device list and the account page. Each part lives in its own module; this file
// only connects them.
import { Auth } from "./auth.js";
import { Api } from "./api.js";
import { SignInView } from "./signin.js";
import { InviteView } from "./invite.js";
import { DevicesView } from "./devices.js";
import { AccountView } from "./account.js";
import { RecordingsView } from "./recordings.js";
import { RecordingPlayer } from "./recplayer.js";
import { can } from "./roles.js";
import { ShareJoinView, pendingShare } from "./sharejoin.js";
import { byId, say } from "./dom.js";
import { messageOf } from "./errors.js";

const VIEWS = ["loading", "signin", "invite", "devices", "account", "share", "recordings", "recording"];

const notice = (text, kind = "") => say(byId("notice"), text, kind);

const auth = new Auth({ onSignedOut: (message) => signedOut(message) });
// The owner may require two-factor authentication while this user is on another page: the
// relay then refuses the calls, and the page walks the user to enrollment.
const api = new Api(auth, {
  onEnrollmentRequired: () => {
    if (me && !me.mfa_enrollment_required) enter();
  },
});
const devices = new DevicesView({ api, notice });
const signin = new SignInView({ auth, onSignedIn: () => enter() });
const player = new RecordingPlayer({ api, onBack: () => showRecordings(false) });
const recordings = new RecordingsView({
  api,
  onPlay: (r) => {
    show("recording");
    player.open(r);
  },
});
let me = null; // who is signed in (GET /me)
let walkedToEnroll = false; // the session could only enroll two-factor authentication
const account = new AccountView({
  api,
  auth,
  notice,
  // Two-factor authentication went on or off: who I am changed. A session that could only
  // enroll goes on to the devices once the recovery codes are put away.
  onMFAChanged: async ({ codesOnShow }) => {
    try {
      me = await api.me();
    } catch {
      return; // the page stays as it is; the next navigation reads it again
    }
    showWho(me);
    if (walkedToEnroll && !me.mfa_enrollment_required && !codesOnShow) {
      walkedToEnroll = false;
      home();
    }
  },
});
const invite = new InviteView({
  api,
  auth,
  onDone: ({ signedIn, org, email, message }) => {
    if (org) signin.remember(org);
    if (signedIn) {
      notice(message);
      enter();
    } else {
      showSignIn({ org, email, message });
    }
  },
});

const shareJoin = new ShareJoinView({
  api,
  onDevices: () => {
    if (me && !me.mfa_enrollment_required) showDevices();
  },
  // Signed in to the wrong organization: sign out, and in again with the link kept.
  onSwitch: async (token) => {
    devices.stop();
    await auth.logout();
    pendingShare.set(token);
    showSignIn({ message: "Sign in to the organization that shared the console with you." });
  },
});

function show(view) {
  if (view !== "account") account.hide();
  if (view !== "recording") player.close();
  for (const v of VIEWS) byId(`view-${v}`).hidden = v !== view;
  document.body.dataset.view = view;
  byId("nav-devices").setAttribute("aria-current", String(view === "devices"));
  byId("nav-account").setAttribute("aria-current", String(view === "account"));
  byId("nav-recordings").setAttribute("aria-current", String(view === "recordings" || view === "recording"));
}

function showWho(who) {
  byId("who").hidden = !who;
  byId("signout").hidden = !who;
  byId("nav").hidden = !who;
  // A session that may only enroll two-factor authentication has no device list to go to.
  byId("nav-devices").disabled = !!who?.mfa_enrollment_required;
  // Recordings are for the roles that may read them (auditor, admin, owner).
  byId("nav-recordings").hidden = !can(who?.role, "read_recordings") || !!who?.mfa_enrollment_required;
  byId("who-org").textContent = who?.org_slug ?? "";
  byId("who-email").textContent = who?.email ?? "";
  byId("who-role").textContent = who?.role ?? "";
}

function showSignIn(opts) {
  devices.stop();
  me = null;
  showWho(null);
  show("signin");
  signin.show(opts);
}

function showDevices() {
  show("devices");
  devices.start(me);
}

/** The recordings list; fresh: read it again (else it stays as it was, back from the player). */
function showRecordings(fresh = true) {
  devices.stop();
  show("recordings");
  if (fresh) recordings.show();
}

function showAccount() {
  devices.stop();
  show("account");
  account.show(me);
}

// Signed in: who am I, then the devices; or the account page when the organization requires
// two-factor authentication and this user has none yet.
async function enter() {
  try {
    me = await api.me();
  } catch (err) {
    showSignIn({ message: `Signed in, but your account could not be read: ${messageOf(err)}` });
    return;
  }
  showWho(me);
  walkedToEnroll = !!me.mfa_enrollment_required;
  if (walkedToEnroll) {
    showAccount();
    return;
  }
  home();
}

// Where a signed-in user lands: the console shared with them when they came with a share
// link, else the devices.
function home() {
  const token = pendingShare.get();
  if (!token) {
    showDevices();
    return;
  }
  devices.stop();
  show("share");
  shareJoin.join(token, me);
}

byId("nav-devices").addEventListener("click", () => {
  if (me && !me.mfa_enrollment_required) showDevices();
});
byId("nav-recordings").addEventListener("click", () => {
  if (me && can(me.role, "read_recordings") && !me.mfa_enrollment_required) showRecordings();
});
byId("nav-account").addEventListener("click", () => {
  if (me) showAccount();
});

function signedOut(message) {
  showSignIn({ message });
}

byId("signout").addEventListener("click", async () => {
  devices.stop();
  await auth.logout();
  notice("");
  showSignIn({ message: "You signed out." });
});

// An invitation, password-reset or share token arrives in the fragment, which browsers never
// send to a server; it is taken out of the address bar (and history) before anything else.
function takeLink() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  for (const kind of ["invite", "reset", "share"]) {
    const token = params.get(kind);
    if (token) {
      history.replaceState(history.state, "", window.location.pathname + window.location.search);
      return { kind, token };
    }
  }
  return null;
}

async function start() {
  const link = takeLink();
  if (link?.kind === "share") {
    // Kept for this tab until it is used: signing in first (and reloading the form) keeps it.
    pendingShare.set(link.token);
  } else if (link) {
    show("invite");
    invite.show(link.token, link.kind);
    return;
  }
  show("loading");
  if (await auth.resume()) {
    await enter();
    return;
  }
  showSignIn(pendingShare.get() ? { message: "Sign in to open the console shared with you (view only)." } : undefined);
}

start();

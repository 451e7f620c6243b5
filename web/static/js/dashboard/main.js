// The dashboard page: signs in (or resumes from the refresh cookie), accepts invitations, and
// shows the device list. Each part lives in its own module; this file only connects them.
import { Auth } from "./auth.js";
import { Api } from "./api.js";
import { SignInView } from "./signin.js";
import { InviteView } from "./invite.js";
import { DevicesView } from "./devices.js";
import { byId, say } from "./dom.js";
import { messageOf } from "./errors.js";

const VIEWS = ["loading", "signin", "invite", "devices"];

const notice = (text, kind = "") => say(byId("notice"), text, kind);

const auth = new Auth({ onSignedOut: (message) => signedOut(message) });
const api = new Api(auth);
const devices = new DevicesView({ api, notice });
const signin = new SignInView({ auth, onSignedIn: () => enter() });
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

function show(view) {
  for (const v of VIEWS) byId(`view-${v}`).hidden = v !== view;
  document.body.dataset.view = view;
}

function showWho(me) {
  byId("who").hidden = !me;
  byId("signout").hidden = !me;
  byId("who-org").textContent = me?.org_slug ?? "";
  byId("who-email").textContent = me?.email ?? "";
  byId("who-role").textContent = me?.role ?? "";
}

function showSignIn(opts) {
  devices.stop();
  showWho(null);
  show("signin");
  signin.show(opts);
}

// Signed in: who am I, then the devices.
async function enter() {
  let me;
  try {
    me = await api.me();
  } catch (err) {
    showSignIn({ message: `Signed in, but your account could not be read: ${messageOf(err)}` });
    return;
  }
  showWho(me);
  show("devices");
  devices.start(me);
}

function signedOut(message) {
  showSignIn({ message });
}

byId("signout").addEventListener("click", async () => {
  devices.stop();
  await auth.logout();
  notice("");
  showSignIn({ message: "You signed out." });
});

// An invitation or password-reset token arrives in the fragment, which browsers never send to
// a server; it is taken out of the address bar (and history) before anything else.
function takeLink() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  for (const kind of ["invite", "reset"]) {
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
  if (link) {
    show("invite");
    invite.show(link.token, link.kind);
    return;
  }
  show("loading");
  if (await auth.resume()) {
    await enter();
    return;
  }
  showSignIn();
}

start();

// Accepting an invitation or a password reset: the link (/console/#invite=… or #reset=…, routed
// here as /#invite=… or /#reset=…) carries a one-time token; the person chooses a password, and
// is then signed in with it. Both answer the same way (the user and the organization's slug).
import { byId, say } from "./dom.js";
import { messageOf } from "./errors.js";

const MIN_PASSWORD = 12; // control/accounts: passwords are at least 12 characters

/** What differs between the two links. */
const KINDS = {
  invite: {
    title: "Accept your invitation",
    submit: "Accept and sign in",
    accept: (api, token, password) => api.acceptInvite(token, password),
    dead: "This invitation is invalid, expired or already used. Ask the person who invited you for a new one.",
    ready: "Welcome! Your account is ready.",
    signIn: "Your account is ready. Sign in with your new password.",
  },
  reset: {
    title: "Choose a new password",
    submit: "Set password and sign in",
    accept: (api, token, password) => api.acceptPasswordReset(token, password),
    dead: "This reset link is invalid, expired or already used. Ask an administrator of your organization for a new one.",
    ready: "Your password was changed. Every other session of your account was signed out.",
    signIn: "Your password was changed. Sign in with the new password.",
  },
};
export class InviteView {
  #api;
  #auth;
  #onDone;
  #token = "";
  #kind = KINDS.invite;
  #title = byId("invite-title");
  #form = byId("invite-form");
  #password = byId("invite-password");
  #confirm = byId("invite-confirm");
  #submit = byId("invite-submit");
  #error = byId("invite-error");

  /** onDone({signedIn, org, email, message}): the invitation was accepted. */
  constructor({ api, auth, onDone }) {
    this.#api = api;
    this.#auth = auth;
    this.#onDone = onDone;
    this.#form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#accept();
    });
  }

  /** kind: "invite" or "reset". */
  show(token, kind = "invite") {
    this.#kind = KINDS[kind] ?? KINDS.invite;
    this.#title.textContent = this.#kind.title;
    this.#submit.textContent = this.#kind.submit;
    this.#token = token;
    this.#password.value = "";
    this.#confirm.value = "";
    say(this.#error, "");
    this.#submit.disabled = false;
    this.#password.focus();
  }

  async #accept() {
    const password = this.#password.value;
    if ([...password].length < MIN_PASSWORD) {
      say(this.#error, `Choose a password of at least ${MIN_PASSWORD} characters.`);
      this.#password.focus();
      return;
    }
    if (password !== this.#confirm.value) {
      say(this.#error, "The two passwords differ. Type the same password twice.");
      this.#confirm.select();
      this.#confirm.focus();
      return;
    }
    this.#submit.disabled = true;
    say(this.#error, "");
    let user;
    try {
      user = await this.#kind.accept(this.#api, this.#token, password);
    } catch (err) {
      this.#submit.disabled = err?.status === 401; // a used or expired link stays so
      say(this.#error, err?.status === 401 ? this.#kind.dead : messageOf(err));
      return;
    }
    this.#token = "";
    const org = typeof user?.org_slug === "string" ? user.org_slug : "";
    const email = typeof user?.email === "string" ? user.email : "";
    try {
      if (!org) throw new Error("no organization in the answer");
      await this.#auth.login({ org, email, password });
    } catch {
      this.#onDone({ signedIn: false, org, email, message: this.#kind.signIn });
      return;
    } finally {
      this.#password.value = "";
      this.#confirm.value = "";
    }
    this.#onDone({ signedIn: true, org, email, message: this.#kind.ready });
  }
}

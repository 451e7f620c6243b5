// Accepting an invitation: the link (/console/#invite=…, routed here as /#invite=…) carries a
// one-time token; the invitee chooses a password, and is then signed in with it.
import { byId, say } from "./dom.js";
import { messageOf } from "./errors.js";

const MIN_PASSWORD = 12; // control/accounts: passwords are at least 12 characters

export class InviteView {
  #api;
  #auth;
  #onDone;
  #token = "";
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

  show(token) {
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
      user = await this.#api.acceptInvite(this.#token, password);
    } catch (err) {
      this.#submit.disabled = err?.status === 401; // a used or expired invitation stays so
      say(this.#error, err?.status === 401 ? "This invitation is invalid, expired or already used. Ask the person who invited you for a new one." : messageOf(err));
      return;
    }
    this.#token = "";
    const org = typeof user?.org_slug === "string" ? user.org_slug : "";
    const email = typeof user?.email === "string" ? user.email : "";
    try {
      if (!org) throw new Error("no organization in the answer");
      await this.#auth.login({ org, email, password });
    } catch {
      this.#onDone({ signedIn: false, org, email, message: "Your account is ready. Sign in with your new password." });
      return;
    } finally {
      this.#password.value = "";
      this.#confirm.value = "";
    }
    this.#onDone({ signedIn: true, org, email, message: "Welcome! Your account is ready." });
  }
}

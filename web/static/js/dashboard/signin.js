// The sign-in form: organization, email and password; then, when the account has two-factor
// authentication, a code from the authenticator app or a recovery code.
import { byId, say } from "./dom.js";
import { messageOf } from "./errors.js";

const ORG_KEY = "kvmrelay.dashboard.org"; // the last organization, to prefill (not a secret)

export class SignInView {
  #auth;
  #onSignedIn;
  #form = byId("signin-form");
  #org = byId("signin-org");
  #email = byId("signin-email");
  #password = byId("signin-password");
  #passwordStep = byId("signin-password-step");
  #mfaStep = byId("signin-mfa-step");
  #code = byId("signin-code");
  #codeLabel = byId("signin-code-label");
  #toggle = byId("signin-toggle-recovery");
  #back = byId("signin-back");
  #submit = byId("signin-submit");
  #error = byId("signin-error");
  #recovery = false; // the code field takes a recovery code
  #waitTimer = 0;

  /** auth: Auth; onSignedIn(): called once signed in. */
  constructor({ auth, onSignedIn }) {
    this.#auth = auth;
    this.#onSignedIn = onSignedIn;
    this.#form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#submitForm();
    });
    this.#toggle.addEventListener("click", () => this.#setRecovery(!this.#recovery));
    this.#back.addEventListener("click", () => this.#passwordMode());
  }

  /** Shows the form, prefilled where known; message (optional) says why. */
  show({ org = "", email = "", message = "" } = {}) {
    this.#passwordMode();
    this.#org.value = org || remembered();
    if (email) this.#email.value = email;
    this.#password.value = "";
    say(this.#error, message, message ? "info" : "");
    const first = [this.#org, this.#email, this.#password].find((i) => !i.value) ?? this.#password;
    first.focus();
  }

  /** Remembers the organization for the next sign-in on this browser. */
  remember(org) {
    remember(org);
  }

  async #submitForm() {
    const creds = { org: this.#org.value.trim(), email: this.#email.value.trim(), password: this.#password.value };
    const missing = [
      [this.#org, "your organization"],
      [this.#email, "your email"],
      [this.#password, "your password"],
    ].filter(([input]) => !input.value.trim());
    for (const [input] of [[this.#org], [this.#email], [this.#password]]) input.setAttribute("aria-invalid", "false");
    if (missing.length > 0) {
      for (const [input] of missing) input.setAttribute("aria-invalid", "true");
      say(this.#error, `Enter ${missing.map(([, what]) => what).join(" and ")}.`);
      missing[0][0].focus();
      return;
    }
    if (!this.#mfaStep.hidden) {
      const code = this.#code.value.trim();
      if (!code) {
        say(this.#error, this.#recovery ? "Enter one of your recovery codes." : "Enter the 6-digit code from your authenticator app.");
        this.#code.focus();
        return;
      }
      if (this.#recovery) creds.recovery_code = code;
      else creds.totp = code;
    }
    this.#submit.disabled = true;
    say(this.#error, "");
    try {
      await this.#auth.login(creds);
    } catch (err) {
      this.#failed(err);
      return;
    }
    remember(creds.org);
    this.#password.value = "";
    this.#code.value = "";
    this.#submit.disabled = false;
    this.#onSignedIn();
  }

  #failed(err) {
    this.#submit.disabled = false;
    if (err?.code === "mfa-required") {
      this.#mfaMode();
      say(this.#error, "");
      return;
    }
    if (err?.code === "account-slowed" && this.#mfaStep.hidden) {
      // Wrong passwords from elsewhere slow the account down; a current authenticator code
      // with the password gets its user in now. Offer the code; Back returns to the password.
      this.#mfaMode();
      say(this.#error, messageOf(err), "wait");
      return;
    }
    if (err?.rateLimited) {
      this.#wait(err);
      return;
    }
    say(this.#error, messageOf(err));
    if (!this.#mfaStep.hidden) {
      this.#code.select();
      this.#code.focus();
    } else if (err?.status === 401) {
      this.#password.select();
      this.#password.focus();
    }
  }

  // A rate limit: say so, and keep the button disabled until the wait is over.
  #wait(err) {
    const seconds = Math.min(err.retryAfter || 60, 3600);
    this.#submit.disabled = true;
    say(this.#error, `Too many sign-in attempts: ${messageOf(err)}`, "wait");
    clearTimeout(this.#waitTimer);
    this.#waitTimer = setTimeout(() => {
      this.#submit.disabled = false;
      say(this.#error, "You can try again now.", "wait");
    }, seconds * 1000);
  }

  #mfaMode() {
    this.#passwordStep.hidden = true;
    this.#mfaStep.hidden = false;
    this.#back.hidden = false;
    this.#setRecovery(false);
    this.#submit.textContent = "Verify";
    this.#code.focus();
  }

  #passwordMode() {
    this.#passwordStep.hidden = false;
    this.#mfaStep.hidden = true;
    this.#back.hidden = true;
    this.#code.value = "";
    this.#submit.textContent = "Sign in";
  }

  #setRecovery(on) {
    this.#recovery = on;
    this.#code.value = "";
    this.#codeLabel.textContent = on ? "Recovery code" : "Code from your authenticator app";
    this.#code.inputMode = on ? "text" : "numeric";
    this.#code.autocomplete = on ? "off" : "one-time-code";
    this.#toggle.textContent = on ? "Use the authenticator app instead" : "Use a recovery code instead";
    this.#code.focus();
  }
}

function remembered() {
  try {
    return localStorage.getItem(ORG_KEY) ?? "";
  } catch {
    return "";
  }
}

function remember(org) {
  try {
    localStorage.setItem(ORG_KEY, org);
  } catch {
    // no storage: the next visit types it again
  }
}

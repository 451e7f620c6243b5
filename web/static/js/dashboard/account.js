// The account page: turn two-factor authentication (TOTP) on and off, make new recovery codes,
// change the password, and for owners the organization's settings (orgsettings.js).
// When the organization requires it and this user has none, the page is all the session can
// reach (the relay refuses the rest), and it says so.
import { byId, el, say } from "./dom.js";
import { messageOf } from "./errors.js";
import { OrgSettings } from "./orgsettings.js";

const MIN_PASSWORD = 12; // control/accounts: passwords are at least 12 characters

export class AccountView {
  #api;
  #auth;
  #notice;
  #onMFAChanged;
  #me = null;
  #codes = []; // the recovery codes on show (once), for copying and downloading

  #required = byId("account-required");
  #status = byId("mfa-status");
  #off = byId("mfa-off");
  #begin = byId("mfa-begin");
  #enroll = byId("mfa-enroll");
  #qr = byId("mfa-qr");
  #secret = byId("mfa-secret");
  #code = byId("mfa-code");
  #enrollError = byId("mfa-enroll-error");
  #cancel = byId("mfa-cancel");
  #confirm = byId("mfa-confirm");
  #codesBox = byId("mfa-codes");
  #codeList = byId("mfa-code-list");
  #codesStatus = byId("mfa-codes-status");
  #on = byId("mfa-on");
  #onError = byId("mfa-on-error");
  #regen = byId("mfa-regen");
  #regenCode = byId("mfa-regen-code");
  #disable = byId("mfa-disable");
  #disableCode = byId("mfa-disable-code");
  #org;
  #pwForm = byId("password-form");
  #pwUser = byId("password-user");
  #pwCurrent = byId("password-current");
  #pwNew = byId("password-new");
  #pwRepeat = byId("password-repeat");
  #pwError = byId("password-error");
  #pwSubmit = byId("password-submit");

  /**
   * api: Api; auth: Auth; notice(text, kind): the page's notice line; onMFAChanged(): two-factor
   * authentication was turned on or off (who the user is changed: the page reloads it).
   */
  constructor({ api, auth, notice, onMFAChanged }) {
    this.#api = api;
    this.#auth = auth;
    this.#notice = notice;
    this.#onMFAChanged = onMFAChanged;
    this.#org = new OrgSettings({ api, notice });
    this.#begin.addEventListener("click", () => this.#beginEnrollment());
    this.#cancel.addEventListener("click", () => this.#render());
    this.#enroll.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#confirmEnrollment();
    });
    this.#regen.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#regenerate();
    });
    this.#disable.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#turnOff();
    });
    byId("mfa-copy").addEventListener("click", () => this.#copyCodes());
    byId("mfa-download").addEventListener("click", () => this.#downloadCodes());
    byId("mfa-codes-done").addEventListener("click", () => this.#codesSaved());
    this.#pwForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#changePassword();
    });
  }

  /** Shows the page for me (GET /me). */
  show(me) {
    this.#me = me;
    this.#pwUser.value = me.email ?? "";
    this.#codes = [];
    this.#render();
    this.#org.show(me);
    if (me.mfa_enrollment_required) this.#begin.focus();
  }

  /** Leaves the page: recovery codes on show are dropped from the page. */
  hide() {
    this.#showCodes([]);
  }

  // The two-factor card as the user's state has it: off, or on (recovery codes on show stay).
  #render() {
    const on = !!this.#me?.mfa_enabled;
    this.#required.hidden = !this.#me?.mfa_enrollment_required;
    this.#status.textContent = on ? "On" : "Off";
    this.#status.dataset.on = String(on);
    this.#off.hidden = on;
    this.#on.hidden = !on;
    this.#enroll.hidden = true;
    this.#qr.removeAttribute("src");
    this.#secret.textContent = "";
    this.#code.value = "";
    this.#regenCode.value = "";
    this.#disableCode.value = "";
    say(this.#enrollError, "");
    say(this.#onError, "");
  }

  async #beginEnrollment() {
    this.#begin.disabled = true;
    say(this.#enrollError, "");
    let en;
    try {
      en = await this.#api.beginTOTP();
    } catch (err) {
      this.#notice(`Two-factor authentication could not be set up: ${messageOf(err)}`, "error");
      return;
    } finally {
      this.#begin.disabled = false;
    }
    this.#off.hidden = true;
    this.#enroll.hidden = false;
    // The relay draws the QR code (an SVG image in a data: URL, which the CSP allows for images
    // and in which no script runs); anything else is not shown as an image.
    const qr = typeof en?.qr_code === "string" && en.qr_code.startsWith("data:image/svg+xml;base64,") ? en.qr_code : "";
    this.#qr.hidden = !qr;
    if (qr) this.#qr.src = qr;
    this.#secret.textContent = groups(String(en?.secret ?? ""));
    this.#code.focus();
  }

  async #confirmEnrollment() {
    const code = digits(this.#code.value);
    if (code.length !== 6) {
      say(this.#enrollError, "Enter the 6-digit code your authenticator app shows for kvmrelay.");
      this.#code.focus();
      return;
    }
    this.#confirm.disabled = true;
    say(this.#enrollError, "");
    let out;
    try {
      out = await this.#api.confirmTOTP(code);
    } catch (err) {
      say(this.#enrollError, `${messageOf(err)} Check that the phone's clock is right and enter the newest code.`);
      this.#code.select();
      this.#code.focus();
      return;
    } finally {
      this.#confirm.disabled = false;
    }
    this.#me = { ...this.#me, mfa_enabled: true, mfa_enrollment_required: false };
    this.#render();
    this.#showCodes(out?.recovery_codes ?? []);
    this.#notice("Two-factor authentication is on. From now on you sign in with your password and a code.");
    this.#onMFAChanged({ codesOnShow: true });
  }

  async #regenerate() {
    const code = digits(this.#regenCode.value);
    if (code.length !== 6) {
      say(this.#onError, "Enter the 6-digit code from your authenticator app to make new recovery codes.");
      this.#regenCode.focus();
      return;
    }
    say(this.#onError, "");
    try {
      const out = await this.#api.regenerateRecoveryCodes(code);
      this.#regenCode.value = "";
      this.#showCodes(out?.recovery_codes ?? []);
      this.#notice("New recovery codes: the old ones no longer work.");
    } catch (err) {
      say(this.#onError, messageOf(err));
      this.#regenCode.select();
    }
  }

  async #turnOff() {
    const code = this.#disableCode.value.trim();
    if (!code) {
      say(this.#onError, "Enter a code from your authenticator app, or one of your recovery codes, to turn it off.");
      this.#disableCode.focus();
      return;
    }
    say(this.#onError, "");
    try {
      await this.#api.disableTOTP(/^[\d\s]+$/.test(code) ? digits(code) : code);
    } catch (err) {
      say(this.#onError, messageOf(err));
      this.#disableCode.select();
      return;
    }
    this.#me = { ...this.#me, mfa_enabled: false };
    this.#showCodes([]);
    this.#render();
    this.#notice("Two-factor authentication is off: you sign in with your password alone.");
    this.#onMFAChanged({ codesOnShow: false });
  }

  // Recovery codes are shown once: a list of text nodes, with copy and download.
  #showCodes(codes) {
    this.#codes = codes.map(String);
    this.#codeList.replaceChildren(...this.#codes.map((c) => el("li", { class: "code", text: c })));
    this.#codesBox.hidden = this.#codes.length === 0;
    this.#codesStatus.textContent = "";
  }

  #codesText() {
    const who = [this.#me?.email, this.#me?.org_slug ? `organization ${this.#me.org_slug}` : ""].filter(Boolean).join(", ");
    return [`kvmrelay recovery codes for ${who}`, "Each works once, in place of a code from the authenticator app.", "", ...this.#codes, ""].join("\n");
  }

  async #copyCodes() {
    try {
      await navigator.clipboard.writeText(this.#codesText());
      this.#codesStatus.textContent = "Copied.";
    } catch {
      this.#codesStatus.textContent = "Copying is not allowed here: select the codes and copy them, or download them.";
    }
  }

  #downloadCodes() {
    const url = URL.createObjectURL(new Blob([this.#codesText()], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "kvmrelay-recovery-codes.txt";
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    this.#codesStatus.textContent = "Downloaded.";
  }

  #codesSaved() {
    this.#showCodes([]);
    this.#onMFAChanged({ codesOnShow: false });
  }

  async #changePassword() {
    const current = this.#pwCurrent.value;
    const next = this.#pwNew.value;
    let problem = "";
    if (!current) problem = "Enter your current password.";
    else if (next.length < MIN_PASSWORD) problem = `The new password needs at least ${MIN_PASSWORD} characters.`;
    else if (next !== this.#pwRepeat.value) problem = "The two new passwords differ.";
    if (problem) {
      say(this.#pwError, problem);
      return;
    }
    this.#pwSubmit.disabled = true;
    say(this.#pwError, "");
    try {
      this.#auth.adopt(await this.#api.changePassword(current, next));
    } catch (err) {
      say(this.#pwError, messageOf(err));
      return;
    } finally {
      this.#pwSubmit.disabled = false;
    }
    for (const i of [this.#pwCurrent, this.#pwNew, this.#pwRepeat]) i.value = "";
    this.#notice("Password changed. Every other session of your account was signed out.");
  }
}

// The digits of a code as typed ("123 456" → "123456").
function digits(s) {
  return String(s).replace(/\s+/g, "");
}

// A base32 key in groups of four, as authenticator apps show and accept it.
function groups(secret) {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

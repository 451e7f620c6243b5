// A guest link (/console/#guest=<token>): someone without an account joins a shared console to
// watch. The page asks their name (the others see it, marked as a guest's), trades the link for
// a console token at /api/v1/guest/join — the same answer as redeeming a console link — and
// then runs the console like any other, view only.
import { callAPI } from "./consoleapi.js";
import { parseTime, deviceName, grantOf } from "./auth.js";

const JOIN_URL = "/api/v1/guest/join";
// The name typed last time, to prefill (not a secret: others see it anyway).
const NAME_KEY = "kvmrelay.guest.name";
/** The longest name the relay takes. */
export const MAX_GUEST_NAME = 64;

const el = (id) => document.getElementById(id);

/** cleanName(s): the name as the relay keeps it — printable characters only, spaces collapsed,
 * trimmed, at most 64 characters. */
export function cleanName(s) {
  const printable = [...String(s ?? "")].map((ch) => (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(ch) ? " " : ch)).join("");
  return [...printable.replace(/\s+/g, " ").trim()].slice(0, MAX_GUEST_NAME).join("");
}

export class GuestForm {
  #box = el("guest-form");
  #name = el("guest-name");
  #submit = el("guest-join");
  #error = el("guest-error");
  #label = this.#submit.textContent;
  #token = "";
  #onJoined;
  #onRefused;

  /**
   * onJoined({token, expiresAt, device, person, grant, sharedBy}): the guest is in; run the console
   * with the token. onRefused(message): the link cannot be used (expired, revoked, unknown,
   * guest links off); message says why and what to do.
   */
  constructor({ onJoined, onRefused }) {
    this.#onJoined = onJoined;
    this.#onRefused = onRefused;
    this.#box.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#join();
    });
  }

  /** Asks the name for the guest link token. */
  show(token) {
    this.#token = token;
    if (!this.#name.value) this.#name.value = remembered();
    this.#say("");
    this.#name.focus();
    this.#name.select();
  }

  async #join() {
    const name = cleanName(this.#name.value);
    if (!name) {
      this.#say("Type your name: the others on this console see it.");
      this.#name.focus();
      return;
    }
    this.#name.value = name;
    this.#submit.disabled = true;
    this.#name.readOnly = true;
    this.#submit.textContent = "Joining…";
    this.#say("");
    let answer;
    try {
      answer = await callAPI("POST", JOIN_URL, { body: { token: this.#token, name } });
    } catch (err) {
      this.#refused(err);
      return;
    } finally {
      this.#submit.disabled = false;
      this.#name.readOnly = false;
      this.#submit.textContent = this.#label;
    }
    if (typeof answer.token !== "string" || answer.token === "") {
      this.#say("The relay answered with something this page does not understand. Try again in a moment.");
      return;
    }
    remember(name);
    this.#onJoined({
      token: answer.token,
      expiresAt: parseTime(answer.expires_at),
      device: deviceName(answer.device_name) ?? deviceName(answer.device),
      // The relay names the guest as the others see them; an older answer does not.
      person: deviceName(answer.principal_name) ?? `${name} (guest)`,
      grant: grantOf(answer.grant) ?? "view", // a guest link never gives more
      sharedBy: deviceName(answer.shared_by),
    });
  }

  #refused(err) {
    const said = err?.message || "The relay refused the link.";
    const status = err?.status ?? 0;
    if (status === 410 || status === 404 || status === 403) {
      // The link itself cannot work: say so where the console would be, with what to do.
      const next = status === 403
        ? "Tell the person who sent you this link."
        : "Ask the person who sent you this link for a new one.";
      // The relay's sentence may say what to do already (check the link, sign in, ask someone).
      this.#onRefused(/\b(ask|sign in|check|open it)\b/i.test(said) ? said : `${said} ${next}`);
      return;
    }
    // A bad name, a rate limit or the network: the guest can fix it or try again from here.
    this.#say(said);
    this.#name.focus();
  }

  #say(text) {
    this.#error.textContent = text;
    this.#error.hidden = !text;
  }
}

function remembered() {
  try {
    return localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}

function remember(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // no storage: the guest types it again next time
  }
}

// The organization's settings card on the account page (owners): controls that PATCH one
// setting each — two-factor authentication for every member, guest links, and recording
// (policy, full keystroke capture, retention).
import { byId, say } from "./dom.js";
import { messageOf } from "./errors.js";
import { can } from "./roles.js";

// Each switch: its checkbox, the setting's field in the API's organization, and what the page
// says once it changed.
const SWITCHES = [
  {
    id: "org-require-mfa",
    field: "require_mfa",
    on: "Every member now needs two-factor authentication.",
    off: "Two-factor authentication is no longer required.",
  },
  {
    id: "org-guest-links",
    field: "guest_links",
    on: "Guest links are on: console participants can create time-limited, view-only links for people without an account.",
    off: "Guest links are off: guests who were watching were disconnected, and no new guest links can be made.",
  },
  {
    id: "org-recording-keys",
    field: "recording_keys",
    on: "Full keystroke capture is on: recordings now keep every key typed, passwords included. The change is in the audit log.",
    off: "Full keystroke capture is off: recordings keep no keys (input is still counted).",
  },
];

const POLICY_SAID = {
  off: "Console sessions are no longer recorded.",
  on: "Console sessions are now recorded when the relay can write recordings.",
  required: "Console sessions now require a recording: a session whose recording cannot be written does not start.",
};

export class OrgSettings {
  #api;
  #notice;
  #card = byId("org-card");
  #error = byId("org-error");
  #switches = SWITCHES.map((s) => ({ ...s, input: byId(s.id) }));
  #policy = byId("org-recording");
  #retention = byId("org-recording-retention");
  #org = null;

  /** api: Api; notice(text, kind): the page's notice line. */
  constructor({ api, notice }) {
    this.#api = api;
    this.#notice = notice;
    for (const s of this.#switches) s.input.addEventListener("change", () => this.#set(s, s.input.checked));
    this.#policy.addEventListener("change", () => this.#setValue(this.#policy, "recording", this.#policy.value, POLICY_SAID[this.#policy.value]));
    this.#retention.addEventListener("change", () => {
      const days = Number.parseInt(this.#retention.value, 10);
      if (!Number.isInteger(days) || days < 1 || days > 3650) {
        say(this.#error, "Recordings are kept from 1 to 3650 days.");
        this.#apply(this.#org);
        return;
      }
      this.#setValue(this.#retention, "recording_retention_days", days, `Recordings are now kept for ${days} days; older ones are removed.`);
    });
  }

  get #inputs() {
    return [...this.#switches.map((s) => s.input), this.#policy, this.#retention];
  }

  /** Shows the card to an owner (me: GET /me) with the settings as the relay has them. */
  async show(me) {
    const owner = can(me?.role, "manage_org") && !me?.mfa_enrollment_required;
    this.#card.hidden = !owner;
    say(this.#error, "");
    if (!owner) return;
    for (const i of this.#inputs) i.disabled = true;
    try {
      this.#apply(await this.#api.org());
    } catch (err) {
      say(this.#error, `The organization's settings could not be read: ${messageOf(err)}`);
      return;
    }
    for (const i of this.#inputs) i.disabled = false;
  }

  #apply(org) {
    this.#org = org;
    for (const s of this.#switches) s.input.checked = org?.[s.field] === true;
    this.#policy.value = POLICY_SAID[org?.recording] ? org.recording : "off";
    this.#retention.value = String(Number.isInteger(org?.recording_retention_days) ? org.recording_retention_days : 30);
  }

  /** Sets one non-boolean setting from input; on failure the input shows the setting as it was. */
  async #setValue(input, field, value, said) {
    input.disabled = true;
    say(this.#error, "");
    try {
      this.#apply(await this.#api.patchOrgSettings({ [field]: value }));
      this.#notice(said ?? "");
    } catch (err) {
      this.#apply(this.#org);
      say(this.#error, messageOf(err));
    } finally {
      input.disabled = false;
    }
  }

  async #set(s, on) {
    s.input.disabled = true;
    say(this.#error, "");
    try {
      const org = await this.#api.patchOrgSettings({ [s.field]: on });
      if (org && typeof org === "object") this.#org = org;
      s.input.checked = typeof org?.[s.field] === "boolean" ? org[s.field] : on;
      this.#notice(s.input.checked === on ? (on ? s.on : s.off) : "");
    } catch (err) {
      s.input.checked = !on;
      say(this.#error, messageOf(err));
    } finally {
      s.input.disabled = false;
    }
  }
}

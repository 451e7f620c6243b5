// The organization's settings card on the account page (owners): switches that PATCH one
// setting each — two-factor authentication for every member, and guest links.
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
];

export class OrgSettings {
  #api;
  #notice;
  #card = byId("org-card");
  #error = byId("org-error");
  #switches = SWITCHES.map((s) => ({ ...s, input: byId(s.id) }));

  /** api: Api; notice(text, kind): the page's notice line. */
  constructor({ api, notice }) {
    this.#api = api;
    this.#notice = notice;
    for (const s of this.#switches) s.input.addEventListener("change", () => this.#set(s, s.input.checked));
  }

  /** Shows the card to an owner (me: GET /me) with the settings as the relay has them. */
  async show(me) {
    const owner = can(me?.role, "manage_org") && !me?.mfa_enrollment_required;
    this.#card.hidden = !owner;
    say(this.#error, "");
    if (!owner) return;
    for (const s of this.#switches) s.input.disabled = true;
    try {
      this.#apply(await this.#api.org());
    } catch (err) {
      say(this.#error, `The organization's settings could not be read: ${messageOf(err)}`);
      return;
    }
    for (const s of this.#switches) s.input.disabled = false;
  }

  #apply(org) {
    for (const s of this.#switches) s.input.checked = org?.[s.field] === true;
  }

  async #set(s, on) {
    s.input.disabled = true;
    say(this.#error, "");
    try {
      const org = await this.#api.patchOrgSettings({ [s.field]: on });
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

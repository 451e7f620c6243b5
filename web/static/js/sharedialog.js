// The Share dialog: a link for a colleague (view only, after signing in), a guest link (view
// only, no account, for a chosen time), and the session's live links with Revoke. Offered to
// the participants who may hold control (a viewer cannot share; the relay refuses it anyway).
// Names in the list are other people's text: they go in through textContent only.
import { createShare, listShares, revokeShare, liveShares, expiryText, joinedText } from "./shares.js";
import { copyText, copiedText } from "./clipboard.js";

const el = (id) => document.getElementById(id);
// While open, the list's "expires in …" is kept current (and expired links drop out).
const RERENDER_MS = 30_000;

// One way to make a link: its button (busy while the relay makes it), the link with Copy, and
// a line for the outcome.
class LinkMaker {
  #button;
  #label;
  #out;
  #link;
  #copy;
  #status;
  #error;
  shareID = ""; // the share whose link is on show

  constructor(prefix) {
    this.#button = el(`${prefix}-create`);
    this.#label = this.#button.textContent;
    this.#out = el(`${prefix}-out`);
    this.#link = el(`${prefix}-link`);
    this.#copy = el(`${prefix}-copy`);
    this.#status = el(`${prefix}-status`);
    this.#error = el(`${prefix}-error`);
    this.#copy.addEventListener("click", async () => {
      this.#status.textContent = copiedText(await copyText(this.#link));
    });
    // A click in the field selects the whole link, ready to copy by hand.
    this.#link.addEventListener("focus", () => this.#link.select());
  }

  /** onCreate(): makes the link; resolves to the share with its link, or throws a refusal. */
  wire(onCreate) {
    this.#button.addEventListener("click", async () => {
      this.#button.disabled = true;
      this.#button.textContent = "Creating link…";
      this.#say("");
      try {
        this.#show(await onCreate());
      } catch (err) {
        this.#say(err?.message || "The link could not be made. Try again.");
      } finally {
        this.#button.disabled = false;
        this.#button.textContent = this.#label;
      }
    });
  }

  /** Forgets the link on show (revoked, or the session ended). */
  forget(id = this.shareID) {
    if (id !== this.shareID) return;
    this.shareID = "";
    this.#link.value = "";
    this.#out.hidden = true;
    this.#status.textContent = "";
  }

  clear() {
    this.forget();
    this.#say("");
  }

  #show(share) {
    this.shareID = share.id;
    this.#link.value = share.link;
    this.#out.hidden = false;
    this.#status.textContent = share.kind === "guest"
      ? `${expiryText(share)}. Anyone with this link can watch until then.`
      : "Send it to a colleague: they sign in, then watch.";
    this.#copy.focus();
  }

  #say(text) {
    this.#error.textContent = text;
    this.#error.hidden = !text;
  }
}

export class ShareDialog {
  #token;
  #onClose;
  #button = el("btn-share");
  #dialog = el("share-dialog");
  #ttl = el("share-guest-ttl");
  #list = el("share-list");
  #listStatus = el("share-list-status");
  #listError = el("share-list-error");
  #member = new LinkMaker("share-member");
  #guest = new LinkMaker("share-guest");
  #shares = [];
  #loading = 0; // which load is the newest: an older answer is dropped
  #timer = 0;

  /** token(): the console token the page holds now (it is refreshed), or null. onClose(): the
   * keyboard focus goes back to the screen. */
  constructor({ token, onClose }) {
    this.#token = token;
    this.#onClose = onClose;
  }

  start() {
    this.#button.addEventListener("click", () => this.open());
    this.#member.wire(() => this.#create("member"));
    this.#guest.wire(() => this.#create("guest", Number(this.#ttl.value)));
    el("share-reload").addEventListener("click", () => this.#load());
    this.#list.addEventListener("click", (e) => {
      const b = e.target.closest("[data-revoke]");
      if (b) this.#revoke(b, b.dataset.revoke);
    });
    this.#dialog.addEventListener("close", () => {
      clearInterval(this.#timer);
      this.#timer = 0;
      this.#onClose();
    });
  }

  /** Whether this console may share: offered only then. */
  set allowed(on) {
    this.#button.hidden = !on;
    if (!on) this.close();
  }

  get isOpen() {
    return this.#dialog.open;
  }

  open() {
    if (this.#button.hidden || this.#dialog.open) return;
    this.#dialog.showModal();
    el("share-member-create").focus();
    this.#load();
    this.#timer = setInterval(() => this.#render(), RERENDER_MS);
  }

  close() {
    if (this.#dialog.open) this.#dialog.close();
  }

  /** The session ended: its links are dead, and the dialog closes. */
  reset() {
    this.close();
    this.#member.clear();
    this.#guest.clear();
    this.#shares = [];
    this.#list.replaceChildren();
  }

  async #create(kind, ttl) {
    const share = await createShare(this.#need(), kind, ttl);
    this.#load();
    return share;
  }

  #need() {
    const token = this.#token();
    if (!token) throw new Error("This console has no session to share: open a console link first.");
    return token;
  }

  async #load() {
    const mine = ++this.#loading;
    if (this.#shares.length === 0) this.#listStatus.textContent = "Loading links…";
    this.#sayList("");
    try {
      const shares = await listShares(this.#need());
      if (mine !== this.#loading) return;
      this.#shares = shares;
    } catch (err) {
      if (mine !== this.#loading) return;
      this.#sayList(`The links could not be listed: ${err?.message ?? "try again."}`);
    }
    this.#render();
  }

  async #revoke(button, id) {
    button.disabled = true;
    button.textContent = "Revoking…";
    this.#sayList("");
    try {
      await revokeShare(this.#need(), id);
    } catch (err) {
      button.disabled = false;
      button.textContent = "Revoke";
      this.#sayList(`The link was not revoked: ${err?.message ?? "try again."}`);
      return;
    }
    this.#member.forget(id);
    this.#guest.forget(id);
    this.#shares = this.#shares.filter((s) => s.id !== id);
    this.#render();
    this.#load();
  }

  #render() {
    const live = liveShares(this.#shares);
    this.#listStatus.textContent = live.length === 0
      ? "No live links: nobody can join this console through a link."
      : `${live.length === 1 ? "1 live link" : `${live.length} live links`}. Revoking one disconnects whoever joined through it.`;
    this.#list.replaceChildren(...live.map((s) => row(s)));
  }

  #sayList(text) {
    this.#listError.textContent = text;
    this.#listError.hidden = !text;
  }
}

function row(share) {
  const li = document.createElement("li");
  li.className = "share-item";
  li.dataset.kind = share.kind;

  const kind = document.createElement("span");
  kind.className = "share-kind";
  kind.textContent = share.kind === "guest" ? "Guest" : "Colleague";

  const text = document.createElement("span");
  text.className = "share-text";
  const what = document.createElement("span");
  what.className = "share-what";
  what.textContent = share.createdBy ? `Created by ${share.createdBy}` : "Link";
  const meta = document.createElement("span");
  meta.className = "share-meta";
  meta.textContent = `${expiryText(share)} · ${joinedText(share.joined)}`;
  text.append(what, meta);

  const revoke = document.createElement("button");
  revoke.type = "button";
  revoke.className = "btn btn-small share-revoke";
  revoke.dataset.revoke = share.id;
  revoke.textContent = "Revoke";
  revoke.setAttribute("aria-label", `Revoke the ${share.kind === "guest" ? "guest" : "colleague"} link${share.createdBy ? ` created by ${share.createdBy}` : ""}`);

  li.append(kind, text, revoke);
  return li;
}

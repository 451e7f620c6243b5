// What the person sees about the connection: the overlay card in the middle of the window (while
// there is no live picture), the status line in the toolbar, and body[data-state] for the CSS.
// Every string that came from the network goes in through textContent, never as markup.

const el = (id) => document.getElementById(id);

export class Overlay {
  #title = el("overlay-title");
  #detail = el("overlay-detail");
  #help = el("needs-link");
  #guest = el("guest-form");
  #retry = el("overlay-retry");
  #status = el("status-text");
  #device = el("device-name");
  #person = el("person-name");
  #name = null;
  #view = { state: "starting" };
  #hasVideo = false;

  /** onRetry runs when the person presses Retry. */
  constructor(onRetry) {
    this.#retry.addEventListener("click", onRetry);
  }

  /** The device's name (hostile text from the agent: textContent only). */
  set device(name) {
    this.#name = name;
    this.#device.textContent = name;
    this.#device.title = name;
    document.title = `${name} · kvmrelay console`;
    this.#render();
  }

  /** Whose session this is (email or API key name; text only). */
  set person(name) {
    this.#person.textContent = name;
    this.#person.title = `Session of ${name}`;
    this.#person.hidden = !name;
  }

  /** Whether the video is showing frames (the overlay steps aside when connected and live). */
  set hasVideo(v) {
    this.#hasVideo = v;
    this.#render();
  }

  /** Shows a state: {state, attempt, message, retry}; retry: false hides the Retry button. */
  show(view) {
    this.#view = view;
    this.#render();
  }

  /** The toolbar's status line while connected (path and round trip from the stats). */
  set connectedDetail(text) {
    if (this.#view.state === "connected") this.#status.textContent = text;
  }

  #render() {
    const { state, attempt = 0, message = null } = this.#view;
    const live = state === "connected" && this.#hasVideo;
    document.body.dataset.state = state;
    document.body.classList.toggle("live", live);
    const copy = describe(state, attempt, message, this.#name, this.#hasVideo);
    this.#title.textContent = copy.title;
    this.#detail.textContent = copy.detail ?? "";
    this.#status.textContent = copy.status;
    this.#help.hidden = state !== "needs-link";
    this.#guest.hidden = state !== "guest-name";
    // A link that could not be redeemed is used up: retrying cannot help there.
    this.#retry.hidden = !(state === "reconnecting" || (state === "failed" && this.#view.retry !== false));
  }
}

function describe(state, attempt, message, name, hasVideo) {
  const device = name ?? "the device";
  switch (state) {
    case "needs-link":
      return {
        title: "Open a console link",
        detail: "This page shows a device's screen once you open it from a console link.",
        status: "No console link",
      };
    case "guest-name":
      return {
        title: "Join a shared console",
        detail: "You are joining a shared console as a guest: you can watch, not type.",
        status: "Guest link",
      };
    case "redeeming":
      return { title: "Opening the console", detail: "Checking the console link.", status: "Opening" };
    case "connecting":
      return { title: `Connecting to ${device}`, detail: "Setting up a secure connection.", status: "Connecting" };
    case "waiting-agent":
      return {
        title: "Waiting for the device's agent",
        detail: "The agent on the device is offline or restarting. The console connects as soon as it is back.",
        status: "Waiting for agent",
      };
    case "connected":
      return hasVideo
        ? { title: "Connected", detail: null, status: "Connected" }
        : { title: "Waiting for the picture", detail: "Connected. The first frame is on its way.", status: "Connected" };
    case "reconnecting":
      return {
        title: `Reconnecting… (attempt ${attempt})`,
        detail: message
          ? `The connection dropped: ${message}. Keys held on the device were released.`
          : "The connection dropped. Keys held on the device were released.",
        status: `Reconnecting (attempt ${attempt})`,
      };
    case "failed":
      return {
        title: "Could not connect",
        detail: message ?? "The connection failed. Check your network and press Retry.",
        status: "Failed",
      };
    case "closed":
      return { title: "Console closed", detail: message, status: "Closed" };
    default:
      return { title: "Starting", detail: null, status: "Starting" };
  }
}

// One row of the device list. Names, labels, versions and capabilities come from admins and
// agents: they are set as text only (dom.js), so markup in them stays visible characters.
import { el } from "./dom.js";
import { ago, capabilities, labels, holder, sessionLine, signalNote } from "./format.js";

/**
 * deviceRow(device, view): the <tr> for a device. view: {summary (sessionSummary), canOpen,
 * viewOnly (the console opens watching only), openWhy (why not, when !canOpen), mayStop(session),
 * busy, now}.
 */
export function deviceRow(d, view) {
  const revoked = !!d.revoked_at;
  // A gateway serves Intel AMT machines (each its own row, "via" it) and has no screen.
  const gateway = d.kind === "gateway";
  const online = !!d.online && !revoked;
  const caps = capabilities(d.capabilities);
  const capChips = [...caps.sources, ...caps.sizes, ...caps.codecs];
  const note = online ? signalNote(caps.signal) : null;

  return el(
    "tr",
    { data: { deviceId: d.id, online: String(online) } },
    el(
      "td",
      {},
      el("span", { class: "device-name", data: { field: "name" }, text: d.name }),
      gateway ? el("span", { class: "badge kind-badge", data: { field: "kind" }, attrs: { title: "Serves Intel AMT machines; no screen of its own" }, text: "Gateway" }) : null,
      el("span", { class: "device-id", text: d.id }),
      // The MPS tags whose machines the gateway adopts (each then a row of its own).
      gateway && d.amt_tags?.length ? el("span", { class: "via", data: { field: "amt-tags" }, attrs: { title: "Machines MPS lists with one of these tags get their own rows" }, text: `MPS tags: ${d.amt_tags.join(", ")}` }) : null,
      d.gateway ? el("span", { class: "via", data: { field: "via" }, attrs: { title: `AMT ${d.amt_guid ?? ""}` }, text: `via ${d.gateway_name || d.gateway} · AMT` }) : null,
      revoked ? el("span", { class: "revoked", text: "Revoked" }) : null,
    ),
    el(
      "td",
      {},
      el("span", { class: "presence", data: { online: String(online), field: "presence" }, text: online ? "Online" : "Offline" }),
      note ? el("span", { class: "signal", data: { field: "signal" }, attrs: { title: note.detail }, text: note.label }) : null,
    ),
    el("td", { class: "muted", data: { field: "last-seen" }, text: ago(d.last_seen, view.now) }),
    el("td", { class: "mono", data: { field: "version" }, text: d.agent_version || "–" }),
    el("td", { data: { field: "capabilities" } }, chips(capChips, "–")),
    el("td", { data: { field: "labels" } }, chips(labels(d.labels), "")),
    el("td", {}, consoleCell(d, view, revoked, gateway)),
  );
}

function chips(items, none) {
  if (items.length === 0) return el("span", { class: "muted", text: none });
  return el("span", { class: "chips" }, ...items.map((t) => el("span", { class: "chip", attrs: { title: t }, text: t })));
}

function consoleCell(d, view, revoked, gateway) {
  const s = view.summary;
  const open = gateway ? null : el("button", {
    class: "btn btn-primary btn-small",
    attrs: {
      type: "button",
      disabled: revoked || !view.canOpen || view.busy,
      title: !view.canOpen ? view.openWhy : view.viewOnly ? "Your role watches consoles: you see the screen, someone else types." : null,
    },
    data: { action: "open" },
    aria: { label: `${view.viewOnly ? "Watch" : "Open"} console of ${d.name}` },
    text: view.viewOnly ? "Watch console" : "Open console",
  });
  const stoppable = (s?.open ?? []).filter((x) => view.mayStop(x));
  // Stop acts on what it says: each open session has its own; "Stop all N" only when there
  // are several, and it asks first, listing them.
  const stopAll =
    stoppable.length > 1
      ? el("button", {
          class: "btn btn-small btn-danger",
          attrs: { type: "button", disabled: view.busy },
          data: { action: "stop-all" },
          aria: { label: `Stop all ${stoppable.length} console sessions of ${d.name}` },
          text: `Stop all ${stoppable.length}`,
        })
      : null;
  return el(
    "div",
    { class: "console-cell" },
    el("span", { class: "session-state", data: { live: String(!!s?.live), field: "session" }, text: s ? s.text : "…" }),
    s?.open?.length ? el("ul", { class: "session-list", data: { field: "sessions" } }, ...s.open.map((x) => sessionItem(d, x, view))) : null,
    el("div", { class: "console-actions" }, open, stopAll),
  );
}

function sessionItem(d, s, view) {
  const stop = view.mayStop(s)
    ? el("button", {
        class: "btn btn-small btn-danger",
        attrs: { type: "button", disabled: view.busy },
        data: { action: "stop", sessionId: s.id },
        aria: { label: `Stop the console session of ${holder(s)} on ${d.name}` },
        text: "Stop",
      })
    : null;
  return el(
    "li",
    { class: "session-item", data: { sessionId: s.id, state: s.current } },
    el("span", { class: "session-line", attrs: { title: `session ${s.id}` }, text: sessionLine(s, view.now) }),
    stop,
  );
}

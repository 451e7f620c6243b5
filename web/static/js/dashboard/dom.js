// Building DOM without markup. Everything the relay returns about a device comes from an agent or
// an admin and is hostile text (SECURITY.md item 12): it only ever becomes a Text node or an
// attribute value from this list, never HTML.

// Attributes a caller may set. No event handlers (on*), no URLs (href, src), no style.
const SAFE_ATTRS = new Set(["id", "class", "type", "title", "role", "scope", "disabled", "hidden", "for", "name", "value"]);

/**
 * el(tag, props, ...children): an element. props: {class, text, attrs: {name: value}, data:
 * {key: value}, aria: {key: value}}. Children are nodes or strings (which become Text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (!SAFE_ATTRS.has(name)) throw new Error(`dom: attribute ${name} is not allowed`);
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [key, value] of Object.entries(props.data ?? {})) node.dataset[key] = String(value);
  for (const [key, value] of Object.entries(props.aria ?? {})) node.setAttribute(`aria-${key}`, String(value));
  if (props.text != null) node.textContent = String(props.text);
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Shows text in an element (or hides it when text is empty). */
export function say(node, text, kind = "") {
  node.textContent = text ?? "";
  node.hidden = !text;
  if (kind) node.dataset.kind = kind;
  else delete node.dataset.kind;
}

/** The element with this id; a missing one is a bug in the page, reported at once. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`dashboard: #${id} is missing from the page`);
  return node;
}

// The pages' one way to the server: the public API, with the key the person signed in with.
//
// Errors come back as RFC 9457 problems (application/problem+json); ApiError carries the
// status and the problem so a page can say exactly what the server said. Nothing here
// builds HTML from strings: el() sets text, so a message body can never become markup.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// --------------------------------------------------------------------------- keys

// sessionStorage by default (gone when the tab closes); localStorage with "remember me".
export function loadKey(scope) {
  return sessionStorage.getItem(`smslocker.${scope}.key`) ||
    localStorage.getItem(`smslocker.${scope}.key`) || "";
}

export function saveKey(scope, key, remember) {
  forgetKey(scope);
  (remember ? localStorage : sessionStorage).setItem(`smslocker.${scope}.key`, key);
}

export function forgetKey(scope) {
  sessionStorage.removeItem(`smslocker.${scope}.key`);
  localStorage.removeItem(`smslocker.${scope}.key`);
}

// --------------------------------------------------------------------------- requests

export function client(getKey) {
  async function call(method, path, { query, body, raw, contentType } = {}) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const headers = { Authorization: `Bearer ${getKey()}`, Accept: "application/json" };
    let payload;
    if (raw !== undefined) {
      payload = raw;
      headers["Content-Type"] = contentType || "text/csv";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload });
    } catch (error) {
      throw new ApiError(0, { title: "network error", detail: `the server did not answer (${error.message})` });
    }
    noteServerTime(response);
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 200) }; }
    if (!response.ok) throw new ApiError(response.status, data || {});
    return data;
  }
  return {
    key: getKey,
    get: (path, query) => call("GET", path, { query }),
    post: (path, body, query) => call("POST", path, { body, query }),
    put: (path, body) => call("PUT", path, { body }),
    patch: (path, body) => call("PATCH", path, { body }),
    del: (path, query) => call("DELETE", path, { query }),
    upload: (path, raw, query) => call("POST", path, { raw, query }),
  };
}

// The server's clock as seen from here: countdowns to a rental's end use it, so a
// browser whose clock is off does not show a wrong time left. One-second resolution (the
// Date header), which is what a countdown shows anyway.
let serverOffsetMs = 0;

function noteServerTime(response) {
  const date = Date.parse(response.headers.get("date") || "");
  if (!Number.isNaN(date)) serverOffsetMs = date + 500 - Date.now();
}

export function serverNow() {
  return Date.now() + serverOffsetMs;
}

export function wsUrl(path, query) {
  const url = new URL(path, location.origin);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  return url.toString();
}

// --------------------------------------------------------------------------- DOM

// el("p", {class: "x", onclick: f}, "text", child, ...): text children are text nodes.
export function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    // CSSOM, not a style attribute: the pages' CSP allows no inline style attributes.
    else if (name === "style") Object.assign(node.style, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

// A line that says what happened: kind is "error", "ok" or "info".
export function say(node, text, kind = "info") {
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = !text;
}

export function problemText(error) {
  if (error instanceof ApiError) {
    const type = error.problem.type ? ` (${String(error.problem.type).split("/").pop()})` : "";
    return `${error.status || "error"}: ${error.message}${type}`;
  }
  return String(error && error.message ? error.message : error);
}

// Copies text; the fallback serves pages opened over plain http on a LAN address, where
// the async clipboard API does not exist.
export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", { class: "offscreen", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = "Copied";
    button.dataset.copied = "1";
    setTimeout(() => { button.textContent = label; delete button.dataset.copied; }, 1500);
  }
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function fmtDuration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

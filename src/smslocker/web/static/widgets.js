// Small building blocks of the console: tables, bar lists, sections that may be absent.

import { ApiError, clear, el, problemText } from "./api.js";

// table(["Number", ...], rows, (row) => [cell, ...]): cells are text or nodes.
export function table(headings, rows, cells, { empty = "Nothing here.", numeric = [] } = {}) {
  const head = el("tr", {}, headings.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : null }, h)));
  const body = el("tbody", {});
  for (const row of rows) {
    body.append(el("tr", {}, cells(row).map((cell, i) =>
      el("td", { class: numeric.includes(i) ? "num" : null }, cell))));
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: headings.length, class: "muted" }, empty)));
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), body));
}

// A list of labelled horizontal bars (counts relative to the largest).
export function bars(items, { label, value, testid }) {
  const top = Math.max(1, ...items.map(value));
  return el("div", { class: "bars", "data-testid": testid },
    items.length ? items.map((item) => el("div", { class: "bar-row", dataset: { key: String(label(item)) } },
      el("span", {}, String(label(item))),
      el("span", { class: "track" }, el("span", { class: "fill", style: { width: `${(100 * value(item)) / top}%` } })),
      el("span", { class: "num" }, String(value(item)))))
      : el("p", { class: "muted" }, "None."));
}

export function badge(text, attribute = "state") {
  return el("span", { class: "badge", dataset: { [attribute]: text } }, text);
}

// True when an endpoint is not on this server (yet): a 404 or 405 that is not a
// "that thing does not exist" problem of a route that does.
export function absent(error) {
  if (!(error instanceof ApiError)) return false;
  if (error.status === 405) return true;
  if (error.status !== 404) return false;
  const type = String(error.problem.type || "");
  return !type || type.endsWith("/not-found") || type === "about:blank" || error.problem.detail === "Not Found";
}

// Fills node with what load() builds, or says that the feature is not available here.
export async function section(node, load, what) {
  try {
    clear(node, await load());
  } catch (error) {
    if (absent(error)) {
      clear(node, el("p", { class: "unavailable", "data-testid": "unavailable" },
        `${what}: not available on this server.`));
    } else {
      clear(node, el("p", { class: "note", dataset: { kind: "error" } }, problemText(error)));
    }
  }
}

// Console tab "Pool": counts by state / country / carrier / connector / service, find a
// number with its history, quarantine / retire / free it, list numbers, import a CSV.

import { clear, el, fmtTime, problemText, say } from "./api.js";
import { badge, bars, table } from "./widgets.js";

const STATES = ["", "FREE", "RESERVED", "RENTED", "COOLDOWN", "QUARANTINE", "RETIRED"];

export function mountPool(root, { api }) {
  const counts = el("div", { class: "grid", "data-testid": "pool-counts" });
  const searchInput = el("input", { id: "number-search", type: "search", placeholder: "+14155550100",
    pattern: "\\+?[0-9]{6,15}", required: true, spellcheck: "false" });
  const found = el("div", { id: "number-detail" });
  const searchStatus = el("p", { class: "note", hidden: true });
  const stateFilter = el("select", { "aria-label": "state" }, STATES.map((s) => el("option", { value: s }, s || "any state")));
  const list = el("div", {});
  const more = el("button", { type: "button", hidden: true }, "Next page");
  let after = 0;

  const csvFile = el("input", { id: "csv-file", type: "file", accept: ".csv,text/csv,text/plain", required: true });
  const csvConnector = el("input", { id: "csv-connector", placeholder: "connector (optional)",
    pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" });
  const progress = el("progress", { max: 100, value: 0, hidden: true });
  const importStatus = el("p", { class: "note", hidden: true });
  const rejected = el("div", { "data-testid": "import-rejected" });

  root.append(
    el("h2", {}, "Pool"),
    counts,
    el("div", { class: "card" },
      el("h3", {}, "Find a number"),
      el("form", { class: "row", onsubmit: (event) => { event.preventDefault(); find(searchInput.value.trim()); } },
        searchInput, el("button", { type: "submit", class: "primary" }, "Show")),
      searchStatus, found),
    el("div", { class: "card" },
      el("div", { class: "row" }, el("h3", {}, "Numbers"), el("span", { class: "grow" }), stateFilter),
      list, more),
    el("div", { class: "card" },
      el("h3", {}, "Import numbers (CSV)"),
      el("p", { class: "muted small" }, "Columns: number[,country,carrier,source,tags]. Valid rows are imported; each rejected row is listed with why."),
      el("form", { class: "row", onsubmit: (event) => { event.preventDefault(); upload(); } },
        csvFile, csvConnector, el("button", { type: "submit", class: "primary" }, "Import")),
      progress, importStatus, rejected));

  stateFilter.addEventListener("change", () => loadList(true));
  more.addEventListener("click", () => loadList(false));

  async function loadCounts() {
    try {
      const pool = await api.get("/api/v1/admin/stats/pool");
      clear(counts,
        el("div", { class: "card" }, el("h3", {}, "By state"),
          el("p", { class: "stat", "data-testid": "pool-total" }, `${pool.total} numbers`),
          bars(pool.by_state, { label: (r) => r.state, value: (r) => r.count, testid: "by-state" })),
        el("div", { class: "card" }, el("h3", {}, "By country"),
          bars(pool.by_country, { label: (r) => r.country || "unknown", value: (r) => r.count, testid: "by-country" })),
        el("div", { class: "card" }, el("h3", {}, "By carrier"),
          bars(pool.by_carrier, { label: (r) => r.carrier || "unknown", value: (r) => r.count, testid: "by-carrier" })),
        el("div", { class: "card" }, el("h3", {}, "By connector"),
          bars(pool.by_connector, { label: (r) => r.connector || "none", value: (r) => r.count, testid: "by-connector" })),
        el("div", { class: "card" }, el("h3", {}, "By service tag"),
          bars(pool.by_service, { label: (r) => `${r.service}${r.failing ? ` (${r.failing} failing)` : ""}`, value: (r) => r.numbers, testid: "by-service" })));
    } catch (error) {
      clear(counts, el("p", { class: "note", dataset: { kind: "error" } }, problemText(error)));
    }
  }

  async function loadList(fromStart) {
    if (fromStart) after = 0;
    try {
      const page = await api.get("/api/v1/admin/numbers", { state: stateFilter.value, after, limit: 50 });
      const node = table(["Number", "Country", "Carrier", "Connector", "State", "Rentals", "SMS"], page.numbers,
        (n) => [el("button", { type: "button", class: "link mono", onclick: () => find(n.number) }, n.number),
          n.country || "—", n.carrier || "—", n.connector || "—", badge(n.state), String(n.rentals_count), String(n.messages_count)],
        { numeric: [5, 6] });
      if (fromStart) clear(list, node); else list.append(node);
      after = page.next_after || 0;
      more.hidden = !page.next_after;
    } catch (error) {
      clear(list, el("p", { class: "note", dataset: { kind: "error" } }, problemText(error)));
    }
  }

  async function find(number) {
    searchInput.value = number;
    say(searchStatus, "");
    let detail;
    try {
      detail = await api.get(`/api/v1/admin/numbers/${encodeURIComponent(number)}`, { rentals: 20 });
    } catch (error) {
      clear(found);
      say(searchStatus, problemText(error), "error");
      return;
    }
    showNumber(detail);
  }

  function showNumber(n) {
    const act = (what, body) => async () => {
      if (what === "retire" && !confirm(`Retire ${n.number} for good?`)) return;
      try {
        const changed = await api.post(`/api/v1/admin/numbers/${encodeURIComponent(n.number)}/${what}`, body);
        say(searchStatus, `${n.number}: now ${changed.state}.`, "ok");
        await find(n.number);
        loadCounts();
        loadList(true);
      } catch (error) {
        say(searchStatus, problemText(error), "error");
      }
    };
    clear(found, el("div", { class: "number-detail", dataset: { number: n.number } },
      el("div", { class: "row" }, el("strong", { class: "mono" }, n.number), badge(n.state),
        el("span", { class: "muted small" }, n.state_until ? `until ${fmtTime(n.state_until)}` : "")),
      el("p", { class: "muted small" },
        `${n.country || "—"} · ${n.carrier || "unknown carrier"} · ${n.line_type} · connector ${n.connector || "—"} · `,
        `${n.rentals_count} rentals · ${n.messages_count} SMS · probes ${n.health.probes_ok} ok / ${n.health.probes_failed} failed`),
      el("div", { class: "row" },
        el("button", { type: "button", "data-testid": "quarantine", onclick: act("quarantine", {}) }, "Quarantine"),
        el("button", { type: "button", onclick: act("quarantine", { indefinite: true }) }, "Quarantine until freed"),
        el("button", { type: "button", onclick: act("free") }, "Free"),
        el("button", { type: "button", class: "danger", onclick: act("retire") }, "Retire")),
      el("h3", {}, "Service tags"),
      table(["Service", "Uses", "Failures", "Failing", "Last used"], n.service_tags,
        (t) => [t.service, String(t.uses), String(t.failures), t.failing ? "yes" : "no", fmtTime(t.last_used_at)],
        { empty: "Never rented for a service." }),
      el("h3", {}, "Rentals"),
      table(["Rental", "Account", "Service", "Status", "Started", "SMS"], n.rentals,
        (r) => [r.id, String(r.account_id), r.service || "—", badge(r.status, "status"), fmtTime(r.started_at), String(r.messages_count)],
        { empty: "Never rented." })));
  }

  // XMLHttpRequest, not fetch: it reports upload progress, which a large CSV needs.
  function upload() {
    const file = csvFile.files[0];
    if (!file) return;
    const url = new URL("/api/v1/admin/numbers/import", location.origin);
    if (csvConnector.value.trim()) url.searchParams.set("connector", csvConnector.value.trim());
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("Authorization", `Bearer ${api.key()}`);
    request.setRequestHeader("Content-Type", "text/csv");
    progress.hidden = false;
    progress.value = 0;
    say(importStatus, `Uploading ${file.name}…`);
    clear(rejected);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) progress.value = (100 * event.loaded) / event.total;
      if (event.loaded === event.total) say(importStatus, "Uploaded; checking and importing the rows…");
    };
    request.onerror = () => say(importStatus, "The upload failed (network).", "error");
    request.onload = () => {
      progress.value = 100;
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { body = { detail: request.responseText }; }
      if (request.status >= 400) {
        say(importStatus, `${request.status}: ${body.detail || body.title || "import failed"}`, "error");
        return;
      }
      say(importStatus, `${body.rows} rows: ${body.imported} imported, ${body.updated} updated, ${body.rejected.length} rejected.`,
        body.rejected.length ? "info" : "ok");
      if (body.rejected.length) {
        clear(rejected, el("h3", {}, "Rejected rows"),
          table(["Line", "Number", "Why"], body.rejected, (r) => [String(r.line), r.number || "—", r.reason]));
      }
      loadCounts();
      loadList(true);
    };
    request.send(file);
  }

  function refresh() { loadCounts(); loadList(true); }
  refresh();
  return { refresh };
}

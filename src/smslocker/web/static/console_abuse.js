// Console tab "Abuse": alerts with their evidence, inbound filters (add / enable /
// delete), held messages (release / drop),
// unmatched messages, accounts with their tier (verify / suspend), the audit log.
//
// Alerts, held messages, the audit log and verify/suspend come from the guard's admin
// routes; a server without them says "not available" for that section and the rest of
// the tab works (suspend then falls back to PATCH status, which every server has).

import { el, fmtTime, problemText, say } from "./api.js";
import { absent, badge, section, table } from "./widgets.js";

export function mountAbuse(root, { api }) {
  const status = el("p", { class: "note", hidden: true });
  const alerts = el("div", { "data-testid": "alerts" });
  const held = el("div", { "data-testid": "held" });
  const filters = el("div", { "data-testid": "filters" });
  const choice = (label, values) => el("select", { "aria-label": label }, values.map((v) => el("option", { value: v }, v)));
  const ruleField = choice("rule field", ["source", "content", "smsc"]);
  const ruleMatch = choice("rule match", ["exact", "prefix", "contains", "regex"]);
  const ruleAction = choice("rule action", ["deny", "hold", "allow"]);
  const rulePattern = el("input", { placeholder: "pattern", "aria-label": "rule pattern", maxlength: 500 });
  const ruleConnector = el("input", { placeholder: "connector (any)", "aria-label": "rule connector" });
  const ruleService = el("input", { placeholder: "service (allow source only)", "aria-label": "rule service" });
  const filterForm = el("form", { class: "row", "data-testid": "filter-form", onsubmit: (event) => { event.preventDefault(); addRule(); } },
    ruleField, ruleMatch, rulePattern, ruleAction, ruleConnector, ruleService, el("button", { type: "submit" }, "Add rule"));
  const unmatched = el("div", { "data-testid": "unmatched" });
  const accounts = el("div", { "data-testid": "abuse-accounts" });
  const audit = el("div", { "data-testid": "audit" });
  const auditFilter = el("input", { placeholder: "action (e.g. key.created)", "aria-label": "audit action" });
  root.append(
    el("h2", {}, "Abuse"), status,
    el("div", { class: "card" }, el("h3", {}, "Alerts"), alerts),
    el("div", { class: "card" }, el("h3", {}, "Inbound filters"), filters, filterForm),
    el("div", { class: "card" }, el("h3", {}, "Held messages"), held),
    el("div", { class: "card" }, el("h3", {}, "Accounts"), accounts),
    el("div", { class: "card" }, el("h3", {}, "Unmatched messages"), unmatched),
    el("div", { class: "card" },
      el("div", { class: "row" }, el("h3", {}, "Audit log"), el("span", { class: "grow" }),
        el("form", { class: "row", onsubmit: (event) => { event.preventDefault(); loadAudit(0); } },
          auditFilter, el("button", { type: "submit" }, "Filter"))),
      audit));

  const when = (item) => fmtTime(item.created_at || item.at || item.time || item.raised_at || null);
  const evidence = (value) => value === undefined || value === null ? "—"
    : el("details", {}, el("summary", {}, "evidence"), el("pre", { class: "small" }, JSON.stringify(value, null, 2)));

  const loadAlerts = () => section(alerts, async () => {
    const body = await api.get("/api/v1/admin/alerts", { limit: 50 });
    const rows = body.alerts || body.items || [];
    return table(["When", "Rule", "Subject", "Action", "Evidence"], rows,
      (a) => [when(a), a.rule || a.kind || a.type || "—",
        a.account_id ? `account ${a.account_id}` : (a.ip || a.subject || "—"),
        a.action || "—", evidence(a.evidence)],
      { empty: "No alerts." });
  }, "Alerts");

  const loadHeld = () => section(held, async () => {
    const body = await api.get("/api/v1/admin/messages/held", { limit: 50 });
    const rows = body.messages || body.items || [];
    const act = (message, what) => async () => {
      try {
        await api.post(`/api/v1/admin/messages/${message.id}/${what}`);
        say(status, `Message ${message.id}: ${what === "release" ? "released" : "dropped"}.`, "ok");
      } catch (error) { say(status, problemText(error), "error"); }
      loadHeld();
    };
    return table(["Received", "From", "To", "Text", "Why held", ""], rows,
      (m) => [fmtTime(m.received_at), m.source, m.destination, m.text || "—", m.reason || m.rule || "—",
        el("span", { class: "row" },
          el("button", { type: "button", class: "small", onclick: act(m, "release") }, "Release"),
          el("button", { type: "button", class: "small danger", onclick: act(m, "drop") }, "Drop"))],
      { empty: "No held messages." });
  }, "Held messages");

  // Inbound filters: deny drops (audited), hold keeps a message for review below, allow
  // lists let only what matches in; a service on a source allow rule names its senders.
  const loadFilters = () => section(filters, async () => {
    const body = await api.get("/api/v1/admin/filters");
    const rows = body.filters || [];
    const act = (rule, what) => async () => {
      try {
        if (what === "delete") await api.del(`/api/v1/admin/filters/${rule.id}`);
        else await api.patch(`/api/v1/admin/filters/${rule.id}`, { enabled: !rule.enabled });
        say(status, `Rule ${rule.id}: ${what === "delete" ? "deleted" : rule.enabled ? "disabled" : "enabled"}.`, "ok");
      } catch (error) { say(status, problemText(error), "error"); }
      loadFilters();
    };
    return table(["Rule", "Connector", "Field", "Match", "Pattern", "Action", "Service", ""], rows,
      (r) => [String(r.id), r.connector || "any", r.field, r.match, r.pattern, badge(r.action, "action"),
        r.service || "—",
        el("span", { class: "row" },
          el("button", { type: "button", class: "small", onclick: act(r, "toggle") }, r.enabled ? "Disable" : "Enable"),
          el("button", { type: "button", class: "small danger", onclick: act(r, "delete") }, "Delete"))],
      { empty: "No filters: every message is let in." });
  }, "Inbound filters");

  async function addRule() {
    const rule = { field: ruleField.value, match: ruleMatch.value, pattern: rulePattern.value, action: ruleAction.value };
    if (ruleConnector.value.trim()) rule.connector = ruleConnector.value.trim();
    if (ruleService.value.trim()) rule.service = ruleService.value.trim();
    try {
      const created = await api.post("/api/v1/admin/filters", rule);
      say(status, `Rule ${created.id} added.`, "ok");
      rulePattern.value = "";
    } catch (error) { say(status, problemText(error), "error"); }
    loadFilters();
  }

  const loadUnmatched = () => section(unmatched, async () => {
    const body = await api.get("/api/v1/admin/messages/unmatched", { limit: 50 });
    return table(["Received", "Connector", "From", "To", "Text"], body.messages.slice(-50).reverse(),
      (m) => [fmtTime(m.received_at), m.connector, m.source, m.destination, m.text || "—"],
      { empty: "Every message found its rental." });
  }, "Unmatched messages");

  const loadAccounts = () => section(accounts, async () => {
    const body = await api.get("/api/v1/admin/accounts", { limit: 200 });
    return table(["Account", "Tier", "Status", "Balance", ""], body.accounts,
      (a) => [`${a.name} (#${a.id})`, badge(a.tier, "tier"), badge(a.status), String(a.balance),
        el("span", { class: "row" },
          el("button", { type: "button", class: "small", onclick: () => verify(a) }, "Verify"),
          a.status === "suspended"
            ? el("button", { type: "button", class: "small", onclick: () => setStatus(a, "active") }, "Reactivate")
            : el("button", { type: "button", class: "small danger", dataset: { account: a.name },
              onclick: () => suspend(a) }, "Suspend"))],
      { numeric: [3] });
  }, "Accounts");

  // The guard's own routes first (they audit and raise the right events); PATCH on a
  // server that does not have them yet.
  async function verify(account) {
    try {
      try {
        await api.post(`/api/v1/admin/accounts/${account.id}/verify`);
      } catch (error) {
        if (!absent(error)) throw error;
        await api.patch(`/api/v1/admin/accounts/${account.id}`, { tier: "verified" });
      }
      say(status, `${account.name}: verified.`, "ok");
    } catch (error) { say(status, problemText(error), "error"); }
    loadAccounts();
  }

  async function suspend(account) {
    if (!confirm(`Suspend ${account.name}? Its keys stop working at once.`)) return;
    try {
      try {
        await api.post(`/api/v1/admin/accounts/${account.id}/suspend`);
      } catch (error) {
        if (!absent(error)) throw error;
        await api.patch(`/api/v1/admin/accounts/${account.id}`, { status: "suspended" });
      }
      say(status, `${account.name}: suspended.`, "ok");
    } catch (error) { say(status, problemText(error), "error"); }
    loadAccounts();
  }

  async function setStatus(account, value) {
    try {
      try {
        await api.post(`/api/v1/admin/accounts/${account.id}/unsuspend`);
      } catch (error) {
        if (!absent(error)) throw error;
        await api.patch(`/api/v1/admin/accounts/${account.id}`, { status: value });
      }
      say(status, `${account.name}: ${value}.`, "ok");
    } catch (error) { say(status, problemText(error), "error"); }
    loadAccounts();
  }

  // The audit trail is oldest first, paged with `after`; the chain check is the API's.
  let auditAfter = 0;
  const auditMore = el("button", { type: "button", hidden: true, onclick: () => loadAudit(auditAfter) }, "Next page");
  const chain = el("p", { class: "note", hidden: true, "data-testid": "audit-chain" });
  audit.after(auditMore, chain);
  const loadAudit = (after = 0) => section(audit, async () => {
    const body = await api.get("/api/v1/admin/audit", { action: auditFilter.value.trim(), after, limit: 100 });
    const rows = body.entries || body.items || [];
    auditAfter = body.next_after || 0;
    auditMore.hidden = !body.next_after;
    return table(["When", "Action", "Actor", "Target", "Details"], rows,
      (e) => [when(e), e.action || e.kind || "—", e.actor || "—",
        e.target || e.subject || (e.account_id ? `account ${e.account_id}` : "—"), evidence(e.details || e.data)],
      { empty: "No entries." });
  }, "Audit log");

  async function verifyChain() {
    try {
      const verdict = await api.get("/api/v1/admin/audit/verify");
      say(chain, verdict.ok ? `The chain holds: ${verdict.checked} entries checked.`
        : `The chain is broken at entry ${verdict.broken_id}: ${verdict.problem}`, verdict.ok ? "ok" : "error");
    } catch (error) {
      say(chain, absent(error) ? "Checking the chain: not available on this server." : problemText(error), "error");
    }
  }
  auditFilter.closest("form").append(el("button", { type: "button", onclick: verifyChain }, "Verify chain"));

  function refresh() {
    say(status, "");
    loadAlerts(); loadFilters(); loadHeld(); loadAccounts(); loadUnmatched(); loadAudit();
  }
  refresh();
  return { refresh };
}

// Console tab "Accounts & keys": create accounts, credits (top-up, adjust, ledger), API
// keys (create — shown once —, revoke), and the price table.

import { clear, copyText, el, fmtTime, problemText, say } from "./api.js";
import { badge, table } from "./widgets.js";

export function mountAccounts(root, { api }) {
  const status = el("p", { class: "note", hidden: true });
  const list = el("div", { "data-testid": "accounts" });
  const detail = el("div", { id: "account-detail" });
  const prices = el("div", { "data-testid": "prices" });
  const name = el("input", { id: "new-account-name", placeholder: "name", required: true, maxlength: 100 });
  const balance = el("input", { type: "number", min: 0, value: 0, "aria-label": "opening credits" });
  const tier = el("input", { value: "unverified", "aria-label": "tier", maxlength: 20 });
  const priceService = el("input", { placeholder: "service (any)", pattern: "[A-Za-z0-9_.\\-]{1,50}" });
  const priceCountry = el("input", { placeholder: "country (any)", pattern: "[A-Za-z]{2}", maxlength: 2 });
  const priceValue = el("input", { type: "number", min: 0, required: true, placeholder: "credits" });

  root.append(
    el("h2", {}, "Accounts & keys"), status,
    el("div", { class: "card" },
      el("h3", {}, "New account"),
      el("form", { class: "row", onsubmit: (event) => { event.preventDefault(); create(); } },
        name, balance, tier, el("button", { type: "submit", class: "primary" }, "Create"))),
    el("div", { class: "card" }, el("h3", {}, "Accounts"), list),
    detail,
    el("div", { class: "card" },
      el("h3", {}, "Prices"),
      el("form", { class: "row", onsubmit: (event) => { event.preventDefault(); setPrice(); } },
        priceService, priceCountry, priceValue, el("button", { type: "submit" }, "Set price")),
      prices));

  const fail = (error) => say(status, problemText(error), "error");

  async function loadList() {
    try {
      const body = await api.get("/api/v1/admin/accounts", { limit: 200 });
      clear(list, table(["Account", "Tier", "Status", "Balance", "Created"], body.accounts,
        (a) => [el("button", { type: "button", class: "link", onclick: () => open(a.id) }, `${a.name} (#${a.id})`),
          a.tier, badge(a.status), String(a.balance), fmtTime(a.created_at)],
        { numeric: [3] }));
    } catch (error) { fail(error); }
  }

  async function create() {
    try {
      const account = await api.post("/api/v1/admin/accounts",
        { name: name.value.trim(), balance: Number(balance.value || 0), tier: tier.value.trim() || "unverified" });
      say(status, `Account ${account.name} (#${account.id}) created.`, "ok");
      name.value = "";
      await loadList();
      open(account.id);
    } catch (error) { fail(error); }
  }

  async function open(accountId, shownKey) {
    let account;
    try {
      account = await api.get(`/api/v1/admin/accounts/${accountId}`, { ledger: 20 });
    } catch (error) { fail(error); return; }
    const amount = el("input", { type: "number", required: true, placeholder: "credits", "aria-label": "credits" });
    const role = el("select", { "aria-label": "role" }, el("option", { value: "user" }, "user"), el("option", { value: "admin" }, "admin"));
    const label = el("input", { placeholder: "label (optional)", maxlength: 100 });
    const credit = (what) => async () => {
      try {
        const result = await api.post(`/api/v1/admin/accounts/${accountId}/${what}`, { amount: Number(amount.value) });
        say(status, `Balance of ${account.name}: ${result.balance}.`, "ok");
        open(accountId); loadList();
      } catch (error) { fail(error); }
    };
    const newKey = async () => {
      try {
        const key = await api.post(`/api/v1/admin/accounts/${accountId}/keys`,
          { role: role.value, label: label.value.trim() || null });
        open(accountId, key);
      } catch (error) { fail(error); }
    };
    const revoke = (key) => async () => {
      if (!confirm(`Revoke key ${key.id}? It stops working at once.`)) return;
      try {
        await api.del(`/api/v1/admin/keys/${key.id}`);
        say(status, `Key ${key.id} revoked.`, "ok");
        open(accountId);
      } catch (error) { fail(error); }
    };
    clear(detail, el("div", { class: "card", dataset: { accountId: String(accountId) } },
      el("div", { class: "row" }, el("h3", {}, `${account.name} (#${account.id})`), badge(account.status),
        el("span", { class: "muted" }, `tier ${account.tier}`), el("span", { class: "grow" }),
        el("span", { class: "stat" }, `${account.balance} credits`)),
      el("form", { class: "row", onsubmit: (event) => { event.preventDefault(); credit("top-up")(); } },
        amount, el("button", { type: "submit" }, "Top up"),
        el("button", { type: "button", onclick: credit("adjust") }, "Adjust (±)")),
      el("h3", {}, "API keys"),
      shownKey ? el("div", { class: "note", dataset: { kind: "ok" } },
        el("p", {}, `New ${shownKey.role} key — shown this once, copy it now:`),
        el("div", { class: "row" }, el("span", { class: "keyshow", "data-testid": "new-key" }, shownKey.key),
          el("button", { type: "button", onclick: (event) => copyText(shownKey.key, event.currentTarget) }, "Copy"))) : null,
      el("form", { class: "row", onsubmit: (event) => { event.preventDefault(); newKey(); } },
        role, label, el("button", { type: "submit" }, "Create key")),
      table(["Key", "Role", "Label", "Created", "Last used", ""], account.keys,
        (k) => [el("span", { class: "mono" }, k.id), k.role, k.label || "—", fmtTime(k.created_at), fmtTime(k.last_used_at),
          k.revoked_at ? `revoked ${fmtTime(k.revoked_at)}`
            : el("button", { type: "button", class: "small danger", onclick: revoke(k) }, "Revoke")],
        { empty: "No keys." }),
      el("h3", {}, "Ledger"),
      table(["When", "Amount", "Reason", "Rental", "Balance after"], account.ledger,
        (r) => [fmtTime(r.created_at), String(r.amount), r.reason, r.rental_id || "—", String(r.balance_after)],
        { numeric: [1, 4], empty: "No ledger rows." })));
  }

  async function loadPrices() {
    try {
      const body = await api.get("/api/v1/admin/prices");
      const remove = (row) => async () => {
        try {
          await api.del("/api/v1/admin/prices", { service: row.service, country: row.country });
          loadPrices();
        } catch (error) { fail(error); }
      };
      clear(prices,
        el("p", { class: "muted small" }, `Default price: ${body.default_price} credits. The most specific row wins.`),
        table(["Service", "Country", "Price", ""], body.prices,
          (row) => [row.service || "any", row.country || "any", String(row.price),
            el("button", { type: "button", class: "small danger", onclick: remove(row) }, "Remove")],
          { numeric: [2], empty: "Every rental costs the default price." }));
    } catch (error) { fail(error); }
  }

  async function setPrice() {
    try {
      await api.put("/api/v1/admin/prices", {
        service: priceService.value.trim() || null,
        country: priceCountry.value.trim().toUpperCase() || null,
        price: Number(priceValue.value),
      });
      say(status, "Price set.", "ok");
      loadPrices();
    } catch (error) { fail(error); }
  }

  function refresh() { say(status, ""); loadList(); loadPrices(); }
  refresh();
  return { refresh };
}

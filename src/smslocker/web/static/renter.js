// The renter's page: sign in with an API key (or with the account's name and password,
// which buys a session token used as the key from then on), pick a service and a
// country, rent, and watch the messages of each active rental arrive over its WebSocket.
//
// State lives in the server: on load the page asks for the active rentals and the
// history, so a reload (or a second tab) shows the same thing. Each active rental has
// one WebSocket; the server sends the rental's messages so far, then live ones, and the
// page tells messages apart by id, so a reconnect (with ?after=) repeats nothing.

import {
  ApiError, client, clear, copyText, el, fmtDuration, fmtTime, forgetKey, loadKey,
  problemText, saveKey, say, serverNow, show, wsUrl,
} from "./api.js";

const SCOPE = "renter";
const $ = (id) => document.getElementById(id);
let key = loadKey(SCOPE);
const api = client(() => key);
const cards = new Map(); // rental id -> card state
let account = null; // GET /api/v1/account: name, balance, kind ("key" or "session")
let selectedCountry = null;
let historyBefore = null;
let countryNames;
try { countryNames = new Intl.DisplayNames(undefined, { type: "region" }); } catch { countryNames = null; }

function countryName(code) {
  if (!code) return "Any country";
  try { return countryNames ? countryNames.of(code) : code; } catch { return code; }
}

// --------------------------------------------------------------------------- sign in

async function signIn(candidate, remember) {
  key = candidate;
  try {
    showAccount(await api.get("/api/v1/account"));
  } catch (error) {
    key = "";
    const invalid = error instanceof ApiError && error.status === 401;
    const text = "That key is not valid (or was revoked), or the session has ended.";
    say($("signin-status"), invalid ? text : problemText(error), "error");
    // A stored key is forgotten only when the server refuses it, not when it is down.
    if (invalid) forgetKey(SCOPE);
    else if (candidate) $("api-key").value = candidate;
    show($("signin"), true);
    return false;
  }
  if (remember !== undefined) saveKey(SCOPE, candidate, remember);
  say($("signin-status"), "");
  show($("signin"), false);
  show($("sign-out"), true);
  for (const id of ["rent", "history"]) show($(id), true);
  await Promise.all([loadAvailability(), loadActive(), loadHistory(true)]);
  return true;
}

// The name and password buy a session token (POST /api/v1/session), which is then the
// key like any other; a wrong name and a wrong password get the same answer.
async function passwordSignIn(name, password, remember) {
  key = "";
  let session;
  try {
    session = await api.post("/api/v1/session", { account: name, password });
  } catch (error) {
    const wrong = error instanceof ApiError && error.status === 401;
    say($("signin-status"), wrong ? "Wrong account name or password." : problemText(error), "error");
    return false;
  }
  $("password").value = "";
  return signIn(session.token, remember);
}

function showAccount(answer) {
  account = answer;
  $("who").textContent = account.name;
  $("balance").textContent = `${account.balance.toLocaleString()} credits`;
  $("balance").dataset.balance = String(account.balance);
  show($("who"), true);
  show($("balance"), true);
}

// After anything that moves credits (rent, extend, an ending with a refund).
async function refreshAccount() {
  if (!key) return;
  try {
    showAccount(await api.get("/api/v1/account"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut(false);
      say($("signin-status"), "Your session has ended: sign in again.", "info");
    }
  }
}

async function signOut(revoke = true) {
  // A session token is revoked on the server too (an API key is the operator's to revoke).
  if (revoke && account && account.kind === "session") {
    try { await api.del("/api/v1/session"); } catch { /* signed out on this page anyway */ }
  }
  account = null;
  forgetKey(SCOPE);
  key = "";
  for (const card of cards.values()) card.close();
  cards.clear();
  clear($("rentals"));
  for (const id of ["rent", "history", "active", "sign-out", "who", "balance"]) show($(id), false);
  show($("signin"), true);
}

// --------------------------------------------------------------------------- choose

let availabilityRequest = 0;

async function loadAvailability() {
  const service = $("service").value.trim();
  if (service && !$("service").checkValidity()) return;
  const request = ++availabilityRequest;
  let answer;
  try {
    answer = await api.get("/api/v1/numbers", { service });
  } catch (error) {
    say($("rent-status"), problemText(error), "error");
    return;
  }
  if (request !== availabilityRequest) return; // a newer choice is on its way
  const byCountry = new Map();
  for (const group of answer.available) {
    const entry = byCountry.get(group.country) || { count: 0, prices: [] };
    entry.count += group.count;
    entry.prices.push(group.price);
    byCountry.set(group.country, entry);
  }
  $("total").textContent = `${answer.total} available`;
  const choices = [...byCountry.entries()].sort((a, b) => b[1].count - a[1].count);
  if (selectedCountry && !byCountry.has(selectedCountry)) selectedCountry = null;
  clear($("countries"), choices.map(([country, entry]) => countryChoice(country, entry)));
  if (!choices.length) {
    $("countries").append(el("p", { class: "muted" }, "Nothing can be rented right now."));
  }
  $("rent-button").disabled = choices.length === 0 || selectedCountry === null;
}

function countryChoice(country, entry) {
  const low = Math.min(...entry.prices);
  const high = Math.max(...entry.prices);
  const price = low === high ? `${low} credits` : `${low}–${high} credits`;
  const input = el("input", {
    type: "radio", name: "country", value: country || "",
    checked: country === selectedCountry,
    onchange: () => { selectedCountry = country; $("rent-button").disabled = false; },
  });
  return el("label", { class: "choice", dataset: { country: country || "" } },
    input,
    el("span", { class: "choice-name" }, country ? `${countryName(country)} (${country})` : "Any country"),
    el("span", { class: "muted" }, `${entry.count} available · ${price}`),
  );
}

async function rent(event) {
  event.preventDefault();
  const body = {};
  const service = $("service").value.trim();
  if (service) body.service = service;
  if (selectedCountry) body.country = selectedCountry;
  $("rent-button").disabled = true;
  try {
    const rental = await api.post("/api/v1/rentals", body);
    say($("rent-status"), `Rented ${rental.number}.`, "ok");
    addCard(rental, true);
    refreshAccount();
  } catch (error) {
    say($("rent-status"), problemText(error), "error");
  } finally {
    $("rent-button").disabled = selectedCountry === null;
    loadAvailability();
    loadHistory(true);
  }
}

// --------------------------------------------------------------------------- rentals

async function loadActive() {
  try {
    const page = await api.get("/api/v1/rentals", { status: "active", limit: 50 });
    for (const rental of page.rentals.reverse()) addCard(rental, false);
  } catch (error) {
    say($("rent-status"), problemText(error), "error");
  }
}

function addCard(rental, first) {
  if (cards.has(rental.id)) return cards.get(rental.id).update(rental);
  const card = new RentalCard(rental);
  cards.set(rental.id, card);
  if (first) $("rentals").prepend(card.node); else $("rentals").append(card.node);
  show($("active"), true);
}

class RentalCard {
  constructor(rental) {
    this.rental = rental;
    this.seen = new Set();
    this.lastId = 0;
    this.socket = null;
    this.closed = false;
    this.retry = 1000;
    this.numberText = el("span", { class: "number" }, rental.number);
    this.countdown = el("span", { class: "countdown", "data-testid": "countdown" });
    this.status = el("span", { class: "badge" });
    this.live = el("span", { class: "live muted small" }, "connecting…");
    this.messages = el("ol", { class: "messages", "data-testid": "messages" });
    this.empty = el("p", { class: "muted waiting" }, "Waiting for an SMS…");
    this.note = el("p", { class: "note", hidden: true });
    this.reason = el("select", { "aria-label": "what went wrong" },
      el("option", { value: "no_code" }, "The code did not arrive"),
      el("option", { value: "number_rejected" }, "The service rejected the number"),
      el("option", { value: "wrong_message" }, "Wrong or someone else's message"));
    this.report = el("details", { class: "report" },
      el("summary", {}, "Report a problem"),
      el("div", { class: "row" }, this.reason,
        el("button", { type: "button", onclick: () => this.sendReport() }, "Send report")));
    this.actions = el("div", { class: "row actions" },
      el("button", { type: "button", onclick: () => this.extend() }, "Extend"),
      el("button", { type: "button", class: "danger", onclick: () => this.release() }, "Release"));
    this.node = el("article", { class: "card rental", id: `rental-${rental.id}`, dataset: { rentalId: rental.id } },
      el("div", { class: "row" },
        this.numberText,
        el("button", { type: "button", class: "copy", "data-testid": "copy-number",
          onclick: (event) => copyText(this.rental.number, event.currentTarget) }, "Copy"),
        el("span", { class: "grow" }), this.status),
      el("div", { class: "row muted small" },
        el("span", {}, `${rental.service || "any service"} · ${countryName(rental.country)} · ${rental.price} credits`),
        el("span", { class: "grow" }), this.countdown),
      this.empty, this.messages, this.live, this.actions, this.report, this.note);
    this.update(rental);
    this.connect();
  }

  get active() { return this.rental.status === "active"; }

  update(rental) {
    const ended = this.rental && this.rental.status === "active" && rental.status !== "active";
    this.rental = rental;
    if (ended && rental.refunded) refreshAccount();
    this.status.textContent = rental.status;
    this.status.dataset.status = rental.status;
    this.actions.hidden = !this.active;
    if (!this.active) {
      this.close();
      const refund = rental.refunded ? ` · ${rental.refunded} credits refunded` : "";
      this.live.textContent = `ended${rental.end_reason ? ` (${rental.end_reason})` : ""}${refund}`;
    }
    this.tick();
  }

  tick() {
    if (!this.active) { this.countdown.textContent = ""; return; }
    const left = (new Date(this.rental.expires_at) - serverNow()) / 1000;
    this.countdown.textContent = `${fmtDuration(left)} left`;
    this.countdown.dataset.low = left < 60 ? "1" : "";
    if (left <= 0 && !this.refreshing) this.refresh();
  }

  async refresh() {
    this.refreshing = true;
    try { this.update(await api.get(`/api/v1/rentals/${this.rental.id}`)); }
    catch (error) { this.say(problemText(error), "error"); }
    finally { setTimeout(() => { this.refreshing = false; }, 5000); }
  }

  connect() {
    if (this.closed || !this.active) return;
    const query = { access_token: key };
    if (this.lastId) query.after = this.lastId;
    const socket = new WebSocket(wsUrl(`/api/v1/rentals/${this.rental.id}/ws`, query));
    this.socket = socket;
    socket.onmessage = (frame) => this.onFrame(JSON.parse(frame.data));
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.live.dataset.state = "down";
      if (this.closed || !this.active) return;
      if (close.code === 4401 || close.code === 4403 || close.code === 4404) {
        this.live.textContent = `not connected (${close.reason || close.code})`;
        return;
      }
      this.live.textContent = "reconnecting…";
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 15000);
    };
  }

  onFrame(event) {
    if (event.type === "ready") {
      this.retry = 1000;
      this.live.textContent = "live";
      this.live.dataset.state = "live";
    } else if (event.type === "message.received") {
      this.addMessage(event.message);
    } else if (event.type && event.type.startsWith("rental.") && event.rental) {
      this.update(event.rental);
    }
  }

  addMessage(message) {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    this.lastId = Math.max(this.lastId, message.id);
    this.empty.hidden = true;
    const code = message.codes && message.codes.length ? message.codes[0].value : null;
    const item = el("li", { class: "message", dataset: { messageId: message.id } },
      el("div", { class: "row muted small" },
        el("span", {}, message.source), el("span", { class: "grow" }),
        el("time", { datetime: message.received_at }, fmtTime(message.received_at))),
      el("p", { class: "text" }, highlighted(message.text, code)));
    if (code) {
      item.prepend(el("div", { class: "row code-row" },
        el("span", { class: "code", "data-testid": "code" }, code),
        el("button", { type: "button", class: "copy primary", "data-testid": "copy-code",
          onclick: (event) => copyText(code, event.currentTarget) }, "Copy code")));
    }
    this.messages.prepend(item);
  }

  async extend() {
    try {
      this.update(await api.post(`/api/v1/rentals/${this.rental.id}/extend`, {}));
      this.say("Extended.", "ok");
      refreshAccount();
    } catch (error) { this.say(problemText(error), "error"); }
  }

  async release() {
    try {
      this.update(await api.post(`/api/v1/rentals/${this.rental.id}/release`));
      this.say("Released.", "ok");
      loadHistory(true);
      loadAvailability();
    } catch (error) { this.say(problemText(error), "error"); }
  }

  async sendReport() {
    try {
      await api.post(`/api/v1/rentals/${this.rental.id}/report`, { reason: this.reason.value });
      this.say("Thank you: the report was sent.", "ok");
    } catch (error) {
      const absent = error instanceof ApiError && (error.status === 404 || error.status === 405) &&
        !(error.problem.type || "").includes("rental-not-found");
      this.say(absent ? `Reporting is not available on this server (${problemText(error)})`
        : problemText(error), "error");
    }
  }

  say(text, kind) { say(this.note, text, kind); }

  close() {
    this.closed = true;
    if (this.socket) { const socket = this.socket; this.socket = null; socket.close(1000); }
  }
}

function highlighted(text, code) {
  if (text === null || text === undefined) return el("em", { class: "muted" }, "(no text)");
  if (!code) return text;
  const at = text.indexOf(code);
  if (at < 0) return text;
  return [text.slice(0, at), el("mark", {}, code), text.slice(at + code.length)];
}

// --------------------------------------------------------------------------- history

async function loadHistory(fromStart) {
  if (fromStart) historyBefore = null;
  let page;
  try {
    page = await api.get("/api/v1/rentals", { limit: 20, before: historyBefore });
  } catch (error) {
    return;
  }
  const body = $("history-table").tBodies[0];
  if (fromStart) clear(body);
  for (const rental of page.rentals) {
    body.append(el("tr", { dataset: { rentalId: rental.id } },
      el("td", { class: "mono" }, rental.messages_count
        ? el("button", { type: "button", class: "link mono", title: "show its messages",
          onclick: (event) => toggleMessages(event.currentTarget.closest("tr"), rental) }, rental.number)
        : rental.number),
      el("td", {}, rental.service || "—"),
      el("td", {}, el("span", { class: "badge", dataset: { status: rental.status } }, rental.status)),
      el("td", {}, fmtTime(rental.started_at)),
      el("td", {}, String(rental.messages_count)),
      el("td", {}, rental.refunded ? `${rental.price} (−${rental.refunded})` : String(rental.price))));
  }
  if (!body.rows.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No rentals yet.")));
  historyBefore = page.next_before;
  show($("history-more"), Boolean(historyBefore));
}

// A past rental's messages, under its row (the same route any client reads them with).
async function toggleMessages(row, rental) {
  const next = row.nextElementSibling;
  if (next && next.dataset.messagesOf === rental.id) { next.remove(); return; }
  const cell = el("td", { colspan: 6 }, el("span", { class: "muted" }, "loading…"));
  row.after(el("tr", { dataset: { messagesOf: rental.id } }, cell));
  try {
    const page = await api.get(`/api/v1/rentals/${rental.id}/messages`, { limit: 100 });
    clear(cell, el("ol", { class: "messages" }, page.messages.map((message) => {
      const code = message.codes && message.codes.length ? message.codes[0].value : null;
      return el("li", { class: "message" },
        el("div", { class: "row muted small" }, el("span", {}, message.source), el("span", { class: "grow" }),
          el("time", { datetime: message.received_at }, fmtTime(message.received_at))),
        el("p", { class: "text" }, highlighted(message.text, code)));
    })));
  } catch (error) {
    clear(cell, el("span", { class: "note", dataset: { kind: "error" } }, problemText(error)));
  }
}

// --------------------------------------------------------------------------- start

function start() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("api-key").value.trim(), $("remember").checked);
  });
  $("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    passwordSignIn($("account-name").value.trim(), $("password").value, $("password-remember").checked);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("rent-form").addEventListener("submit", rent);
  let typing;
  $("service").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(loadAvailability, 250);
  });
  $("history-more").addEventListener("click", () => loadHistory(false));
  setInterval(() => { for (const card of cards.values()) card.tick(); }, 1000);
  if (key) signIn(key);
  else show($("signin"), true);
  document.body.dataset.ready = "1";
}

start();

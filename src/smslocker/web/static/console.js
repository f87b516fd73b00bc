// The operator's console: sign in with an admin key, then one tab per concern. Every
// figure and every action goes through the admin API (/api/v1/admin/...), so a user key
// gets exactly what the API gives it: 403, said plainly here.

import { ApiError, client, forgetKey, loadKey, problemText, saveKey, say, show } from "./api.js";
import { mountAbuse } from "./console_abuse.js";
import { mountAccounts } from "./console_accounts.js";
import { mountCarriers, mountTraffic } from "./console_links.js";
import { mountPool } from "./console_pool.js";

const SCOPE = "console";
const $ = (id) => document.getElementById(id);
let key = loadKey(SCOPE);
const api = client(() => key);
const TABS = { pool: mountPool, carriers: mountCarriers, traffic: mountTraffic, abuse: mountAbuse, accounts: mountAccounts };
const mounted = new Map();
let current = null;

async function signIn(candidate, remember) {
  key = candidate;
  try {
    await api.get("/api/v1/admin/stats/pool");
  } catch (error) {
    key = "";
    let text = problemText(error);
    if (error instanceof ApiError && error.status === 401) text = "That key is not valid (or was revoked).";
    if (error instanceof ApiError && error.status === 403) {
      text = error.problem.type && String(error.problem.type).endsWith("account-suspended")
        ? "This account is suspended."
        : "This key cannot open the console: it is not an admin key (the admin API answered 403 forbidden).";
    }
    say($("signin-status"), text, "error");
    // A stored key is forgotten only when the server refuses it, not when it is down.
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) forgetKey(SCOPE);
    show($("signin"), true);
    return false;
  }
  if (remember !== undefined) saveKey(SCOPE, candidate, remember);
  say($("signin-status"), "");
  show($("signin"), false);
  show($("tabs"), true);
  show($("sign-out"), true);
  $("who").textContent = `admin key …${candidate.slice(-4)}`;
  show($("who"), true);
  route();
  return true;
}

function signOut() {
  forgetKey(SCOPE);
  key = "";
  for (const tab of mounted.values()) tab.stop && tab.stop();
  mounted.clear();
  for (const name of Object.keys(TABS)) { show($(`tab-${name}`), false); $(`tab-${name}`).replaceChildren(); }
  current = null;
  for (const id of ["tabs", "sign-out", "who"]) show($(id), false);
  show($("signin"), true);
}

function route() {
  if (!key) return;
  const name = TABS[location.hash.slice(1)] ? location.hash.slice(1) : "pool";
  for (const link of document.querySelectorAll("#tabs a")) {
    if (link.dataset.tab === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const tab of Object.keys(TABS)) show($(`tab-${tab}`), tab === name);
  if (current && current !== name && mounted.get(current).stop) mounted.get(current).stop();
  current = name;
  const context = { api, refreshTab: (tab) => mounted.get(tab) && mounted.get(tab).refresh() };
  if (!mounted.has(name)) mounted.set(name, TABS[name]($(`tab-${name}`), context));
  else mounted.get(name).refresh();
  document.body.dataset.tab = name;
}

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("api-key").value.trim(), $("remember").checked);
});
$("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
if (key) signIn(key);
else show($("signin"), true);
document.body.dataset.ready = "1";

// Console tabs "Carrier links" (each connector's state, bind, rate, last error,
// start/stop) and "Traffic" (messages received / routed / unmatched per minute, webhook
// attempts, ack latency), drawn with uPlot (vendored: static/vendor/).

import { clear, el, fmtTime, problemText, say } from "./api.js";
import { badge, table } from "./widgets.js";

const CARRIERS_EVERY_MS = 5000;
const TRAFFIC_EVERY_MS = 15000;

export function mountCarriers(root, { api }) {
  const status = el("p", { class: "note", hidden: true });
  const list = el("div", { "data-testid": "connectors" });
  root.append(el("div", { class: "card" },
    el("div", { class: "row" }, el("h2", {}, "Carrier links"), el("span", { class: "grow" }),
      el("span", { class: "muted small" }, "refreshes every 5 s")),
    status, list));
  let timer = null;

  async function load() {
    let connectors, traffic;
    try {
      [connectors, traffic] = await Promise.all([
        api.get("/api/v1/admin/connectors"),
        api.get("/api/v1/admin/stats/traffic", { minutes: 1 }),
      ]);
    } catch (error) {
      say(status, problemText(error), "error");
      return;
    }
    const perMinute = traffic.connectors_last_minute || {};
    clear(list, table(
      ["Connector", "State", "Bind", "Endpoint", "Msgs/min", "Received", "Last error", ""],
      connectors.connectors,
      (c) => [
        el("strong", {}, c.name),
        badge(c.state),
        c.bind,
        c.bind === "http" ? c.ingest_path : `${c.host || "?"}:${c.port || "?"}${c.system_id ? ` (${c.system_id})` : ""}`,
        String(perMinute[c.name] || 0),
        c.stats ? String(c.stats.messages ?? "—") : "—",
        c.last_error ? el("span", { class: "small", title: c.status_at || "" }, c.last_error) : "—",
        el("button", { type: "button", class: "small", dataset: { connector: c.name },
          onclick: () => toggle(c) }, c.enabled ? "Stop" : "Start"),
      ],
      { empty: "No connectors. Add one with the API or `smslocker connectors add`.", numeric: [4, 5] }));
  }

  async function toggle(connector) {
    const action = connector.enabled ? "stop" : "start";
    try {
      const changed = await api.post(`/api/v1/admin/connectors/${encodeURIComponent(connector.name)}/${action}`);
      say(status, `${changed.name}: ${action === "stop" ? "stopped" : "starting"} (${changed.state}).`, "ok");
    } catch (error) {
      say(status, problemText(error), "error");
    }
    load();
  }

  function refresh() {
    load();
    clearInterval(timer);
    timer = setInterval(load, CARRIERS_EVERY_MS);
  }
  refresh();
  return { refresh, stop: () => clearInterval(timer) };
}

export function mountTraffic(root, { api }) {
  const windowSelect = el("select", { "aria-label": "window" },
    el("option", { value: "60" }, "last hour"), el("option", { value: "360" }, "last 6 hours"),
    el("option", { value: "1440" }, "last 24 hours"));
  const status = el("p", { class: "note", hidden: true });
  const figures = el("div", { class: "grid", "data-testid": "traffic-figures" });
  const messagesChart = el("div", { class: "chart", "data-testid": "chart-messages" });
  const webhooksChart = el("div", { class: "chart", "data-testid": "chart-webhooks" });
  root.append(
    el("div", { class: "row" }, el("h2", {}, "Traffic"), el("span", { class: "grow" }), windowSelect),
    status, figures,
    el("div", { class: "card" }, el("h3", {}, "Messages per minute"), messagesChart),
    el("div", { class: "card" }, el("h3", {}, "Webhook attempts per minute"), webhooksChart));
  let timer = null;
  const charts = {};
  windowSelect.addEventListener("change", () => { for (const name of Object.keys(charts)) { charts[name].destroy(); delete charts[name]; } load(); });

  function draw(name, node, series, data) {
    if (typeof uPlot === "undefined") {
      clear(node, el("p", { class: "unavailable" }, "The chart library did not load."));
      return;
    }
    const width = Math.max(280, node.clientWidth || 600);
    if (charts[name]) {
      charts[name].setSize({ width, height: 220 });
      charts[name].setData(data);
      return;
    }
    // eslint-disable-next-line no-undef
    charts[name] = new uPlot({
      width, height: 220,
      scales: { x: { time: true } },
      series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: false } }))],
      axes: [{}, { size: 50 }],
    }, data, node);
  }

  async function load() {
    let traffic;
    try {
      traffic = await api.get("/api/v1/admin/stats/traffic", { minutes: windowSelect.value });
    } catch (error) {
      say(status, problemText(error), "error");
      return;
    }
    say(status, "");
    const xs = traffic.buckets.map((b) => Date.parse(b.at) / 1000);
    const column = (name) => traffic.buckets.map((b) => b[name]);
    const totals = traffic.totals;
    const ack = traffic.ack_latency;
    const ms = (value) => (value === null || value === undefined ? "—" : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`);
    clear(figures,
      figure("Received", totals.received, "messages-received"),
      figure("Routed", totals.routed, "messages-routed"),
      figure("Unmatched", totals.unmatched, "messages-unmatched"),
      figure("Webhook success", totals.webhook_success === null ? "—" : `${(100 * totals.webhook_success).toFixed(1)}%`,
        "webhook-success", `${totals.webhook_attempts} attempts`),
      figure("Ack latency p50 / p95", `${ms(ack.p50_ms)} / ${ms(ack.p95_ms)}`, "ack-latency",
        `${ack.commits} commits in this process · mean ${ms(ack.mean_ms)}`));
    draw("messages", messagesChart, [["received", "#2457d6"], ["routed", "#157f3b"], ["unmatched", "#c0262d"]],
      [xs, column("received"), column("routed"), column("unmatched")]);
    draw("webhooks", webhooksChart, [["delivered (2xx)", "#157f3b"], ["failed", "#c0262d"]],
      [xs, column("webhook_ok"), column("webhook_failed")]);
    figures.dataset.until = fmtTime(traffic.until);
  }

  function refresh() {
    load();
    clearInterval(timer);
    timer = setInterval(load, TRAFFIC_EVERY_MS);
  }
  refresh();
  return { refresh, stop: () => clearInterval(timer) };
}

function figure(label, value, testid, note) {
  return el("div", { class: "card", "data-testid": testid },
    el("div", { class: "muted small" }, label),
    el("div", { class: "stat" }, String(value)),
    note ? el("div", { class: "muted small" }, note) : null);
}

// The router and the overview and replication pages. Routes are URL
// fragments: #/, #/topics, #/topics/<name>, #/groups, #/groups/<id>,
// #/replication, #/alerts.
"use strict";

const Pages = window.Pages || (window.Pages = {});
const { el } = UI;

// Every route change starts a new "view"; timers of an old view stop.
let viewSeq = 0;
Pages.current = () => viewSeq;
Pages.every = function (ms, fn) {
  const mine = viewSeq;
  const t = setInterval(() => { if (mine !== viewSeq) clearInterval(t); else fn(); }, ms);
};

// The count of firing alerts beside "Alerts" in the navigation.
Pages.navAlerts = function (firing) {
  const n = document.getElementById("nav-alerts");
  n.textContent = String(firing.length);
  n.hidden = !firing.length;
};

Pages.overview = async function (root) {
  const [c, alerts] = await Promise.all([UI.get("/cluster"), UI.get("/alerts")]);
  Pages.navAlerts(alerts.firing);
  const firingBox = el("div", { id: "overview-alerts" });
  const drawAlerts = (a) => firingBox.replaceChildren(a.firing.length
    ? Pages.firingTable(a.firing)
    : el("div", { class: "panel muted" }, `No alert is firing (${a.policies} ${a.policies === 1 ? "policy" : "policies"}). `, el("a", { href: "#/alerts" }, "Alert policies")));
  drawAlerts(alerts);
  Pages.every(5000, () => UI.get("/alerts").then((a) => { drawAlerts(a); Pages.navAlerts(a.firing); }).catch(() => {}));
  document.getElementById("cluster-id").textContent = "cluster " + c.cluster_id;
  const b = c.brokers[0];
  const diskPct = b.disk ? (100 * b.disk.free_bytes / b.disk.total_bytes) : null;
  const card = (label, value, sub, href) => el(href ? "a" : "div", { class: "card", href, style: href ? "text-decoration:none;color:inherit" : null },
    el("div", { class: "label" }, label), el("div", { class: "value" }, value), sub ? el("div", { class: "sub" }, sub) : null);
  const states = Object.entries(c.groups_by_state).map(([s, n]) => `${n} ${s}`).join(", ");
  root.replaceChildren(
    el("h1", {}, "Overview", el("small", {}, `Weir ${c.version} · up ${UI.fmtDuration(c.uptime_seconds)}`)),
    el("div", { class: "cards" },
      card("Brokers", UI.fmtNum(c.brokers.length), `controller ${c.controller_id}`),
      card("Topics", UI.fmtNum(c.topics), `${UI.fmtNum(c.internal_topics)} internal`, "#/topics"),
      card("Partitions", UI.fmtNum(c.partitions)),
      card("Groups", UI.fmtNum(c.groups), states || "none", "#/groups"),
      card("Stored", UI.fmtBytes(c.size_bytes), "all partitions"),
      card("Disk free", diskPct === null ? "–" : diskPct.toFixed(1) + " %", b.disk ? `${UI.fmtBytes(b.disk.free_bytes)} of ${UI.fmtBytes(b.disk.total_bytes)}` : ""),
      card("Replication flows", UI.fmtNum(c.mirror_flows), c.mirror_flows ? "" : "not configured", "#/replication"),
      card("Alerts firing", UI.fmtNum(alerts.firing.length), `${UI.fmtNum(alerts.policies)} ${alerts.policies === 1 ? "policy" : "policies"}`, "#/alerts")),
    el("div", { class: "section-head" }, el("h2", {}, "Firing alerts"), el("a", { href: "#/alerts" }, "All alerts ›")),
    firingBox,
    Charts.section("Throughput and latency", {}, ({ data, from, to }) => {
      const s = data.series;
      const line = (title, series, format) => Charts.line({ title, from, to, format, series });
      return [
        line("Bytes per second", [{ label: "in", points: Charts.pts(s, "bytes_in") }, { label: "out", points: Charts.pts(s, "bytes_out") }], Charts.rate("B")),
        line("Messages per second", [{ label: "in", points: Charts.pts(s, "records_in") }, { label: "out", points: Charts.pts(s, "records_out") }], Charts.rate()),
        line("Request latency (p99)", [{ label: "Produce", points: Charts.pts(s, "produce_p99_ms") }, { label: "Fetch (includes long-poll waits)", points: Charts.pts(s, "fetch_p99_ms") }], Charts.ms),
        line("Requests per second", [{ label: "requests", points: Charts.pts(s, "requests") }, { label: "with errors", points: Charts.pts(s, "errors") }], Charts.rate()),
        line("Consumer lag, all groups", [{ label: "records", points: Charts.pts(s, "total_lag") }], Charts.short),
      ];
    }),
    el("h2", {}, "Brokers"),
    UI.table([
      { label: "Node", render: (r) => String(r.node_id) },
      { label: "Listeners", cls: "wrap", render: (r) => r.listeners.map((l) => `${l.listener} ${l.host}:${l.port}`).join(", ") },
      { label: "Data directory", render: (r) => el("span", { class: "mono" }, r.data_dir) },
      { label: "Stored", num: true, render: (r) => UI.fmtBytes(r.size_bytes) },
      { label: "Disk free", num: true, render: (r) => (r.disk ? UI.fmtBytes(r.disk.free_bytes) : "–") },
    ], c.brokers));
};

Pages.replication = async function (root) {
  const data = await UI.get("/mirror/flows");
  const flows = data.flows;
  root.replaceChildren(el("h1", {}, "Replication"));
  if (!flows.length) {
    root.append(el("div", { class: "panel empty" },
      "Replication is not configured. Start the platform with ", el("span", { class: "mono" }, "weir serve --mirror-config FILE"),
      " (MirrorMaker 2 properties) to mirror topics from another cluster; its flows then show here."));
    return;
  }
  for (const f of flows) {
    const lag = f.partitions.reduce((a, p) => a + (p.lag_records || 0), 0);
    const charts = Charts.section("Throughput and lag", { flow: f.name }, ({ data, from, to }) => {
      const s = data.flow.series;
      return [
        Charts.line({ title: "Records mirrored per second", from, to, format: Charts.rate(), series: [{ label: f.name, points: Charts.pts(s, "records") }] }),
        Charts.line({ title: "Lag", from, to, format: Charts.short, series: [{ label: "records", points: Charts.pts(s, "lag_records") }] }),
        Charts.line({ title: "Age of the oldest unmirrored record", from, to, format: Charts.ms, series: [{ label: "lag", points: Charts.pts(s, "lag_ms") }] }),
        Charts.line({ title: "Replication latency (p99)", from, to, format: Charts.ms, series: [{ label: "source write to target ack", points: Charts.pts(s, "latency_p99_ms") }] }),
      ];
    });
    const lat = f.replication_latency_ms;
    const running = f.state !== "stopped";
    root.append(el("h2", {}, f.name, " ", UI.badge(f.state)),
      el("div", { class: "cards" },
        el("div", { class: "card" }, el("div", { class: "label" }, "Partitions"), el("div", { class: "value" }, UI.fmtNum(f.partitions.length))),
        el("div", { class: "card" }, el("div", { class: "label" }, "Lag"), el("div", { class: "value" }, UI.fmtNum(lag)), el("div", { class: "sub" }, "records")),
        el("div", { class: "card" }, el("div", { class: "label" }, "Replication latency p99"), el("div", { class: "value" }, lat.p99 === null ? "–" : "≤ " + UI.fmtMs(lat.p99)), el("div", { class: "sub" }, `p50 ≤ ${lat.p50 === null ? "–" : UI.fmtMs(lat.p50)} · ${UI.fmtNum(lat.records)} records`)),
        el("div", { class: "card" }, el("div", { class: "label" }, "Restarts"), el("div", { class: "value" }, UI.fmtNum(f.restarts)))),
      f.last_error ? el("div", { class: "flash error" }, f.last_error) : "",
      el("div", { class: "toolbar" }, el("span", { class: "grow" }),
        el("button", { disabled: !running, "data-flow-stop": f.name, onclick: () => flowAction(f.name, "stop") }, "Stop flow"),
        el("button", { class: "danger", "data-flow-failover": f.name, onclick: () => flowAction(f.name, "failover") }, "Fail over…")),
      charts,
      UI.table([
        { label: "Topic", key: "topic" },
        { label: "Partition", num: true, key: "partition" },
        { label: "Mirrored", num: true, render: (p) => UI.fmtNum(p.mirrored_offset) },
        { label: "Source end", num: true, render: (p) => UI.fmtNum(p.source_end_offset) },
        { label: "Lag", num: true, render: (p) => UI.fmtNum(p.lag_records) },
        { label: "Lag (ms)", num: true, render: (p) => UI.fmtNum(p.lag_ms) },
        { label: "Records", num: true, render: (p) => UI.fmtNum(p.records) },
        { label: "Bytes", num: true, render: (p) => UI.fmtBytes(p.bytes) },
      ], f.partitions),
      el("h2", {}, "Group checkpoints"),
      UI.table([
        { label: "Group", key: "group" },
        { label: "Written", render: (c) => UI.fmtTime(c.at) },
        { label: "Offsets (source → target)", cls: "wrap", render: (c) => c.partitions.map((p) => `${p.topic}[${p.partition}] ${UI.fmtNum(p.upstream_offset)} → ${UI.fmtNum(p.downstream_offset)}`).join(", ") },
      ], f.checkpoints, { empty: "No checkpoints yet: they are written for groups with committed offsets on mirrored topics.", rowAttrs: (c) => ({ "data-checkpoint": c.group }) }));
  }
  Pages.every(5000, () => { if (!document.querySelector("dialog[open]")) Pages.route(); });

  function flowAction(name, action) {
    const err = el("div", { class: "error-text" });
    const text = action === "stop"
      ? "The flow finishes its current copy, commits, and stops until the platform restarts. The other flows go on."
      : "The flow stops; its mirror topics on the target are promoted (writable, offsets going on from the mirrored end) and its consumer groups' offsets are moved to the target, read from the source or, if the source does not answer, from the checkpoints. Do this when the source cluster is gone.";
    UI.dialog(`${action === "stop" ? "Stop" : "Fail over"} ${name}`, [el("p", {}, text), err], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: action === "stop" ? "primary" : "danger solid", id: "flow-action-submit", onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          const r = await UI.api("POST", `/mirror/flows/${encodeURIComponent(name)}/${action}`);
          close();
          UI.flashNext(action === "stop" ? `Flow ${name} stopped.`
            : `Failed over ${name}: ${r.promoted.length} topic(s) promoted${r.already_promoted.length ? ` (${r.already_promoted.length} already)` : ""}, ${r.groups.length} group(s) moved${r.skipped.length ? `, ${r.skipped.length} skipped` : ""}${r.source_error ? " (offsets from the checkpoints: the source did not answer)" : ""}.`, "info");
          Pages.route();
        } catch (e) { err.textContent = UI.errorText(e); ev.target.disabled = false; }
      } }, action === "stop" ? "Stop" : "Fail over"),
    ]);
  }
};

const routes = [
  [/^\/$/, "overview", () => Pages.overview],
  [/^\/topics$/, "topics", () => Pages.topics],
  [/^\/topics\/(.+)$/, "topics", () => Pages.topic],
  [/^\/groups$/, "groups", () => Pages.groups],
  [/^\/groups\/(.+)$/, "groups", () => Pages.group],
  [/^\/schemas$/, "schemas", () => Pages.schemas],
  [/^\/schemas\/(.+)$/, "schemas", () => Pages.schema],
  [/^\/replication$/, "replication", () => Pages.replication],
  [/^\/alerts$/, "alerts", () => Pages.alerts],
];

async function route() {
  viewSeq++;
  const mine = viewSeq;
  const pending = UI.pending;
  UI.pending = null;
  UI.flash(pending && pending[0], pending && pending[1]);
  const hash = location.hash.replace(/^#/, "") || "/";
  const path = hash.split("?")[0];
  const root = document.getElementById("page");
  let found = null;
  for (const [re, nav, page] of routes) {
    const m = path.match(re);
    if (m) { found = [nav, page(), m.slice(1).map(decodeURIComponent)]; break; }
  }
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", found && a.dataset.page === found[0]);
  if (!found) {
    root.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "No page at ", el("span", { class: "mono" }, path), ". ", el("a", { href: "#/" }, "Overview")));
    return;
  }
  root.replaceChildren(el("div", { class: "muted" }, "Loading…"));
  try {
    await found[1](root, ...found[2]);
  } catch (e) {
    if (mine === viewSeq) {
      const title = e && e.status === 403 ? "Not permitted" : "Could not load this page";
      root.replaceChildren(el("h1", {}, title), el("div", { class: "flash error" }, UI.errorText(e)));
    }
  }
}

Pages.route = route;
window.addEventListener("hashchange", route);
route();
UI.get("/cluster").then((c) => { document.getElementById("cluster-id").textContent = "cluster " + c.cluster_id; }).catch(() => {});
// Who is logged in, and the way out when it was the login form.
UI.get("/whoami").then((w) => {
  if (w.authentication !== "BASIC") return;
  const foot = document.getElementById("user");
  const name = w.principal.replace(/^User:/, "");
  const out = w.via === "login"
    ? el("form", { method: "post", action: "/logout" }, el("button", { class: "small", type: "submit" }, "Log out"))
    : null;
  foot.replaceChildren(el("span", { class: "user-name", title: w.principal }, name), ...(out ? [out] : []));
  foot.hidden = false;
}).catch(() => {});
UI.get("/alerts").then((a) => Pages.navAlerts(a.firing)).catch(() => {});

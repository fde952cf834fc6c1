// Small DOM and API helpers shared by every page. Every text goes in through
// text nodes (never innerHTML), so names and values cannot inject markup.
"use strict";

const UI = {};

// el("td", {class: "num", onclick: f}, "text", child, ...)
UI.el = function (tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (k === "class") n.className = v;
    else if (k === "value") n.value = v;
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
};

// An API error: Kafka's error name and the server's message.
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
UI.ApiError = ApiError;

UI.api = async function (method, path, body) {
  // The header tells the console not to send a basic-auth challenge (which
  // would pop up the browser's password dialog): a 401 sends us to /login.
  const opts = { method, headers: { "x-weir-console": "1" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch("/api/v1" + path, opts);
  if (res.status === 401) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.hash));
    throw new ApiError(401, "SASL_AUTHENTICATION_FAILED", "Your login has expired: log in again.");
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok) {
    throw new ApiError(res.status, (data && data.error_code) || "HTTP_" + res.status, (data && data.message) || text || res.statusText);
  }
  return data;
};
UI.get = (path) => UI.api("GET", path);

UI.errorText = (e) => (e && e.code ? e.code + ": " + e.message : String(e));

UI.flash = function (text, kind) {
  const f = document.getElementById("flash");
  if (!text) { f.hidden = true; return; }
  f.className = "flash " + (kind || "info");
  f.textContent = text;
  f.hidden = false;
};

// A message for the page the next route change shows.
UI.pending = null;
UI.flashNext = (text, kind) => { UI.pending = [text, kind]; };

UI.fmtNum = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
UI.fmtBytes = function (n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
};
UI.fmtMs = function (ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 0) return "forever";
  const s = ms / 1000;
  if (s < 120) return s + " s";
  if (s < 7200) return (s / 60).toFixed(0) + " min";
  if (s < 172800) return (s / 3600).toFixed(0) + " h";
  return (s / 86400).toFixed(1) + " d";
};
UI.fmtTime = (ms) => (ms === null || ms === undefined || ms < 0 ? "–" : new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"));
UI.fmtDuration = function (s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m";
};

UI.badge = (text, cls) => UI.el("span", { class: "badge " + (cls || text) }, text);

UI.debounce = function (fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
};

// A table. cols: [{key, label, num, sort (server sort key), render(row)}].
// sort: {key, desc, onSort(key)} makes headers with a `sort` clickable;
// rowAttrs(row) gives each row's attributes (data-* keys for scripts and tests).
UI.table = function (cols, rows, opts) {
  opts = opts || {};
  const sort = opts.sort;
  const head = UI.el("tr", {}, cols.map((c) => {
    const cls = [c.num ? "num" : "", c.sort && sort ? "sortable" : "", sort && c.sort === sort.key ? "sorted" + (sort.desc ? " desc" : "") : ""].join(" ").trim();
    return UI.el("th", { class: cls || null, onclick: c.sort && sort ? () => sort.onSort(c.sort) : null, "data-sort": c.sort || null }, c.label);
  }));
  const body = rows.length
    ? rows.map((r) => UI.el("tr", opts.rowAttrs ? opts.rowAttrs(r) : {}, cols.map((c) => UI.el("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null }, c.render ? c.render(r) : r[c.key]))))
    : [UI.el("tr", {}, UI.el("td", { colspan: cols.length, class: "empty" }, opts.empty || "Nothing here."))];
  return UI.el("div", { class: "table-wrap" }, UI.el("table", {}, UI.el("thead", {}, head), UI.el("tbody", {}, body)));
};

// "1–50 of 1,234" with previous/next buttons.
UI.pager = function (total, offset, limit, go) {
  const last = Math.min(offset + limit, total);
  return UI.el("div", { class: "pager" },
    UI.el("span", {}, total ? `${UI.fmtNum(offset + 1)}–${UI.fmtNum(last)} of ${UI.fmtNum(total)}` : "0 of 0"),
    UI.el("button", { class: "small", disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ Previous"),
    UI.el("button", { class: "small", disabled: last >= total, onclick: () => go(offset + limit) }, "Next ›"));
};

// A modal dialog holding `body` (nodes); `actions` build its buttons and get
// `close`. Returns the dialog element.
UI.dialog = function (title, body, actions) {
  const d = UI.el("dialog", {});
  const close = () => { d.close(); d.remove(); };
  d.append(UI.el("h3", {}, title), ...[].concat(body), UI.el("div", { class: "actions" }, actions(close)));
  d.addEventListener("cancel", () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
};

// A form row: label and control.
UI.field = (label, control) => UI.el("div", { class: "form-row" }, UI.el("label", {}, label), control);

// Parses "key=value" lines (blank lines and # comments skipped).
UI.parseProps = function (text) {
  const out = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const i = line.indexOf("=");
    if (i <= 0) throw new Error(`not key=value: ${line}`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
};

// Query parameters of the current route (`#/topics?q=x` -> {q: "x"}).
UI.routeParams = function () {
  const h = location.hash;
  const i = h.indexOf("?");
  return new URLSearchParams(i < 0 ? "" : h.slice(i + 1));
};
UI.setRouteParams = function (path, params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined && v !== false) p.set(k, v);
  const s = p.toString();
  history.replaceState(null, "", "#" + path + (s ? "?" + s : ""));
};

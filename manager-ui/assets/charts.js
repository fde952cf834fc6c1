// Line charts drawn as SVG, for the history series. No library: a chart is
// a few polylines over a grid, with a legend and a hover read-out.
"use strict";

const Charts = {};

Charts.COLORS = ["#1f6feb", "#d97706", "#16a34a", "#db2777", "#7c3aed"];

// A "nice" upper bound for the y axis.
Charts.niceMax = function (v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
};

Charts.fmtClock = function (ms, spanMs) {
  const d = new Date(ms);
  const hm = d.toTimeString().slice(0, 5);
  return spanMs > 20 * 3600e3 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
};

// opts: {title, series: [{label, points: [[ts, value|null]]}], format(v), from, to}
Charts.line = function (opts) {
  const { el } = UI;
  const W = 560, H = 190, L = 64, R = 12, T = 10, B = 26;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart-svg");
  const mk = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  const all = opts.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v !== null && v !== undefined);
  const from = opts.from, to = opts.to, span = Math.max(1, to - from);
  const ymax = Charts.niceMax(all.length ? Math.max(...all) : 0);
  const x = (t) => L + ((t - from) / span) * (W - L - R);
  const y = (v) => T + (1 - v / ymax) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    mk("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" });
    mk("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, opts.format(v));
  }
  for (let i = 0; i <= 4; i++) {
    const t = from + (span * i) / 4;
    mk("text", { x: x(t), y: H - 8, class: "axis", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, Charts.fmtClock(t, span));
  }
  opts.series.forEach((s, i) => {
    // Null values break the line (no data: before a restart, or unknown).
    let run = [];
    const flush = () => {
      if (run.length === 1) mk("circle", { cx: run[0][0], cy: run[0][1], r: 2, fill: Charts.COLORS[i] });
      else if (run.length > 1) mk("polyline", { points: run.map((p) => p.join(",")).join(" "), fill: "none", stroke: Charts.COLORS[i], "stroke-width": 1.6 });
      run = [];
    };
    for (const [t, v] of s.points) {
      if (v === null || v === undefined) flush();
      else run.push([x(t).toFixed(1), y(v).toFixed(1)]);
    }
    flush();
  });
  const cursor = mk("line", { x1: 0, x2: 0, y1: T, y2: H - B, class: "cursor", visibility: "hidden" });
  const readout = el("div", { class: "chart-readout" }, "\u00a0");
  svg.addEventListener("mousemove", (ev) => {
    const r = svg.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * W;
    const t = from + ((px - L) / (W - L - R)) * span;
    const pts = opts.series[0] ? opts.series[0].points : [];
    if (!pts.length) return;
    let best = 0;
    for (let i = 1; i < pts.length; i++) if (Math.abs(pts[i][0] - t) < Math.abs(pts[best][0] - t)) best = i;
    const ts = pts[best][0];
    cursor.setAttribute("x1", x(ts)); cursor.setAttribute("x2", x(ts)); cursor.setAttribute("visibility", "visible");
    readout.textContent = new Date(ts).toLocaleTimeString() + " · " + opts.series.map((s) => {
      const v = s.points[best] ? s.points[best][1] : null;
      return `${s.label} ${v === null || v === undefined ? "–" : opts.format(v)}`;
    }).join(" · ");
  });
  svg.addEventListener("mouseleave", () => { cursor.setAttribute("visibility", "hidden"); readout.textContent = "\u00a0"; });
  const legend = el("div", { class: "chart-legend" }, opts.series.map((s, i) => el("span", {}, el("i", { style: `background:${Charts.COLORS[i]}` }), s.label)));
  const empty = all.length ? null : el("div", { class: "chart-empty" }, "No samples in this range yet.");
  return el("div", { class: "chart", "data-chart": opts.title }, el("div", { class: "chart-title" }, opts.title), legend, svg, empty, readout);
};

Charts.rate = (unit) => (v) => (unit === "B" ? UI.fmtBytes(v) + "/s" : Charts.short(v) + "/s");
Charts.short = function (v) {
  if (v >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
};
Charts.ms = (v) => (v >= 1000 ? (v / 1000).toFixed(1) + " s" : Charts.short(v) + " ms");

// The range picker shared by the pages with charts: 15 min to 24 h.
Charts.RANGES = [["15m", 15 * 60e3], ["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 24 * 3600e3]];
Charts.rangePicker = function (current, onPick) {
  const { el } = UI;
  return el("div", { class: "range-picker" }, Charts.RANGES.map(([k]) => el("button", { class: "small" + (k === current ? " active" : ""), "data-range": k, onclick: () => onPick(k) }, k)));
};
Charts.rangeMs = (k) => (Charts.RANGES.find((r) => r[0] === k) || Charts.RANGES[1])[1];

// Loads /history for the range `k` (plus `extra` query parameters) and
// returns {data, from, to}.
Charts.load = async function (k, extra) {
  const to = Date.now(), from = to - Charts.rangeMs(k);
  const qs = new URLSearchParams({ from, to, points: 240, ...(extra || {}) });
  return { data: await UI.get("/history?" + qs), from, to };
};

// A section: a heading with the range picker, then the charts `build(loaded)`
// returns; refreshed every sample interval while the page shows.
Charts.section = function (title, extra, build) {
  const { el } = UI;
  let range = UI.routeParams().get("range") || "1h";
  const box = el("div", { class: "charts" });
  const head = el("div", { class: "section-head" }, el("h2", {}, title));
  const picker = el("span", {});
  head.append(picker);
  const draw = async () => {
    picker.replaceChildren(Charts.rangePicker(range, (k) => { range = k; draw(); }));
    const loaded = await Charts.load(range, extra);
    box.replaceChildren(...build(loaded));
  };
  draw().catch((e) => box.replaceChildren(el("div", { class: "flash error" }, UI.errorText(e))));
  Pages.every(10000, () => draw().catch(() => {}));
  return el("div", {}, head, box);
};

// [[ts, point[key]]] of a series.
Charts.pts = (series, key) => series.map((p) => [p.ts, p[key]]);

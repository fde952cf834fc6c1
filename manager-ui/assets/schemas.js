// Schemas: the registry's subjects (searched and paged on the server), and a
// subject's versions with ids, types, references, Cloudera branches and
// states, the compatibility level in effect, and a line diff between two
// versions.
"use strict";

(function () {
const Pages = window.Pages || (window.Pages = {});
const { el } = UI;
const LIMIT = 50;

Pages.schemas = async function (root) {
  const p = UI.routeParams();
  const state = { q: p.get("q") || "", offset: Number(p.get("offset") || 0) };
  const search = el("input", { type: "search", placeholder: "Search subjects", value: state.q, "aria-label": "Search subjects" });
  const listBox = el("div", {});
  const global = el("span", { class: "muted" });
  root.replaceChildren(el("h1", {}, "Schemas"), el("div", { class: "toolbar" }, search, el("span", { class: "grow" }), global), listBox);
  async function load() {
    UI.setRouteParams("/schemas", { q: state.q, offset: state.offset || "" });
    const data = await UI.get("/schemas?" + new URLSearchParams({ q: state.q, offset: state.offset, limit: LIMIT }));
    global.textContent = `Global compatibility: ${data.global_compatibility}`;
    listBox.replaceChildren(
      UI.table([
        { label: "Subject", render: (s) => el("a", { href: "#/schemas/" + encodeURIComponent(s.subject) }, s.subject) },
        { label: "Type", render: (s) => UI.badge(s.schema_type) },
        { label: "Versions", num: true, key: "versions" },
        { label: "Latest", num: true, render: (s) => `v${s.latest_version}` },
        { label: "Schema id", num: true, key: "latest_id" },
        { label: "Compatibility", key: "compatibility" },
      ], data.subjects, { rowAttrs: (s) => ({ "data-subject": s.subject }), empty: state.q ? `No subject matches “${state.q}”.` : "No schemas registered yet." }),
      UI.pager(data.total, data.offset, data.limit, (o) => { state.offset = o; load(); }));
  }
  search.addEventListener("input", UI.debounce(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 250));
  await load();
};

// A line diff (longest common subsequence): [["=", line] | ["-", line] | ["+", line]].
Pages.diffLines = function (a, b) {
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push(["=", x[i]]); i++; j++; }
    else if (L[i + 1][j] >= L[i][j + 1]) out.push(["-", x[i++]]);
    else out.push(["+", y[j++]]);
  }
  while (i < n) out.push(["-", x[i++]]);
  while (j < m) out.push(["+", y[j++]]);
  return out;
};

Pages.schema = async function (root, subject) {
  const s = await UI.get("/schemas/" + encodeURIComponent(subject));
  const live = s.versions.filter((v) => !v.deleted);
  const latest = live[live.length - 1] || s.versions[s.versions.length - 1];
  const viewer = el("div", {});
  const show = (v) => viewer.replaceChildren(
    el("h2", {}, `Version ${v.version}`, el("small", { class: "muted" }, ` · id ${v.id} · ${v.schema_type}${v.state ? " · " + v.state : ""}${v.branch ? " · branch " + v.branch : ""}`)),
    v.references.length ? el("p", { class: "muted" }, "References: ", v.references.map((r) => [el("a", { href: "#/schemas/" + encodeURIComponent(r.subject) }, `${r.subject} v${r.version}`), ` (as ${r.name}) `])) : "",
    el("pre", { class: "mono schema-text", id: "schema-text" }, v.schema));
  const opts = () => s.versions.map((v) => el("option", { value: v.version }, `v${v.version}${v.deleted ? " (deleted)" : ""}`));
  const from = el("select", { id: "diff-from", "aria-label": "From version" }, opts());
  const to = el("select", { id: "diff-to", "aria-label": "To version" }, opts());
  from.value = String((live[live.length - 2] || latest).version);
  to.value = String(latest.version);
  const diffBox = el("div", { id: "schema-diff" });
  const diff = () => {
    const a = s.versions.find((v) => String(v.version) === from.value), b = s.versions.find((v) => String(v.version) === to.value);
    const lines = Pages.diffLines(a.schema, b.schema);
    const changed = lines.filter((l) => l[0] !== "=").length;
    diffBox.replaceChildren(el("div", { class: "muted" }, changed ? `${changed} line(s) differ` : "The two versions are the same text."),
      el("pre", { class: "mono diff" }, lines.map(([k, line]) => el("div", { class: k === "+" ? "add" : k === "-" ? "del" : null }, `${k === "=" ? " " : k} ${line}`))));
  };
  from.addEventListener("change", diff);
  to.addEventListener("change", diff);
  root.replaceChildren(
    el("h1", {}, s.subject, " ", UI.badge(latest ? latest.schema_type : "")),
    el("div", { class: "cards" },
      el("div", { class: "card" }, el("div", { class: "label" }, "Versions"), el("div", { class: "value" }, UI.fmtNum(live.length))),
      el("div", { class: "card" }, el("div", { class: "label" }, "Latest schema id"), el("div", { class: "value" }, latest ? String(latest.id) : "–")),
      el("div", { class: "card" }, el("div", { class: "label" }, "Compatibility"), el("div", { class: "value", id: "compatibility" }, s.compatibility), el("div", { class: "sub" }, `set ${s.compatibility_source === "default" ? "nowhere (the default)" : "on the " + s.compatibility_source}`))),
    s.metadata ? el("p", { class: "muted" }, `Schema metadata: group ${s.metadata.schema_group}, ${s.metadata.evolve ? "evolves" : "does not evolve"}, validation ${s.metadata.validation_level}${s.metadata.description ? " · " + s.metadata.description : ""}`) : "",
    el("div", { class: "toolbar" }, el("a", { href: "#/schemas" }, "‹ All subjects")),
    el("h2", {}, "Versions"),
    UI.table([
      { label: "Version", num: true, render: (v) => el("a", { href: "javascript:void 0", onclick: () => show(v) }, `v${v.version}`) },
      { label: "Schema id", num: true, key: "id" },
      { label: "Type", key: "schema_type" },
      { label: "Branch", render: (v) => v.branch || "–" },
      { label: "State", render: (v) => v.state || "–" },
      { label: "References", num: true, render: (v) => String(v.references.length) },
      { label: "", render: (v) => (v.deleted ? UI.badge("deleted", "Dead") : "") },
    ], s.versions, { rowAttrs: (v) => ({ "data-version": v.version }) }),
    ...(s.branches.length ? [el("h2", {}, "Branches"), UI.table([{ label: "Branch", key: "name" }, { label: "From version", render: (b) => (b.root_version ? `v${b.root_version}` : "–") }, { label: "Description", key: "description" }], s.branches)] : []),
    viewer,
    el("h2", {}, "Compare versions"), el("div", { class: "toolbar" }, from, el("span", {}, "→"), to), diffBox);
  if (latest) show(latest);
  diff();
};
})();

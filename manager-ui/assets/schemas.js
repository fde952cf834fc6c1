// Schemas: the registry's subjects (searched and paged on the server), and a
// subject's versions with ids, types, references, Cloudera branches and
// states, the compatibility level in effect, serdes, and a line diff between
// two versions. Writes: register a version (after the compatibility check),
// change a subject's or the global compatibility level, move a version
// through its lifecycle (enable, disable, archive, review, delete).
"use strict";

(function () {
const Pages = window.Pages || (window.Pages = {});
const { el } = UI;
const LIMIT = 50;
const LEVELS = ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"];
const ACTION_LABELS = { enable: "Enable", disable: "Disable", archive: "Archive", startReview: "Start review", delete: "Delete" };

// Register a schema under `subject` (asked for when null); `latest` prefills the form.
function registerDialog(subject, latest) {
  const subj = el("input", { id: "register-subject", value: subject || "", placeholder: "orders-value", disabled: !!subject });
  const type = el("select", { id: "register-type" }, ["AVRO", "JSON", "PROTOBUF"].map((t) => el("option", { value: t }, t)));
  type.value = latest ? latest.schema_type : "AVRO";
  const text = el("textarea", { id: "register-schema", style: "min-height:220px", placeholder: '{"type": "record", "name": "Order", "fields": [...]}' });
  text.value = latest ? latest.schema : "";
  const err = el("div", { class: "error-text", id: "register-error" });
  UI.dialog(subject ? `Register a new version of ${subject}` : "Register a schema", [
    UI.field("Subject", subj), UI.field("Type", type), UI.field("Schema", text),
    el("p", { class: "muted" }, "The registry checks the schema against the subject's compatibility level first, as a serializer's registration would."), err,
  ], (close) => [
    el("button", { onclick: close }, "Cancel"),
    el("button", { class: "primary", id: "register-submit", onclick: async () => {
      err.textContent = "";
      const name = subj.value.trim();
      try {
        const r = await UI.api("POST", `/schemas/${encodeURIComponent(name)}/versions`, { schema: text.value, schema_type: type.value });
        close();
        UI.flashNext(r.created ? `Registered ${name} version ${r.version} (schema id ${r.id}).` : `${name} already has this schema (version ${r.version}, id ${r.id}).`, "info");
        if (location.hash === "#/schemas/" + encodeURIComponent(name)) Pages.route(); else location.hash = "#/schemas/" + encodeURIComponent(name);
      } catch (e) { err.textContent = UI.errorText(e); }
    } }, "Register"),
  ]);
  (subject ? text : subj).focus();
}

// Change a compatibility level: a subject's (null: the global one).
function compatibilityDialog(subject, current, source) {
  const level = el("select", { id: "compatibility-level" },
    subject ? el("option", { value: "" }, "Use the global level") : null,
    LEVELS.map((l) => el("option", { value: l }, l)));
  level.value = subject && source !== "subject" ? "" : current;
  const err = el("div", { class: "error-text" });
  UI.dialog(subject ? `Compatibility of ${subject}` : "Global compatibility", [UI.field("Level", level), err], (close) => [
    el("button", { onclick: close }, "Cancel"),
    el("button", { class: "primary", id: "compatibility-submit", onclick: async () => {
      try {
        const path = subject ? `/schemas/${encodeURIComponent(subject)}/compatibility` : "/registry/compatibility";
        const r = await UI.api("PUT", path, { level: level.value || null });
        close();
        UI.flashNext(`Compatibility of ${subject || "the registry"} is now ${subject ? r.compatibility : r.global_compatibility}.`, "info");
        Pages.route();
      } catch (e) { err.textContent = UI.errorText(e); }
    } }, "Save"),
  ]);
}

Pages.schemas = async function (root) {
  const p = UI.routeParams();
  const state = { q: p.get("q") || "", offset: Number(p.get("offset") || 0) };
  const search = el("input", { type: "search", placeholder: "Search subjects", value: state.q, "aria-label": "Search subjects" });
  const listBox = el("div", {});
  const global = el("span", { class: "muted" });
  let globalLevel = null;
  root.replaceChildren(el("h1", {}, "Schemas"), el("div", { class: "toolbar" }, search, el("span", { class: "grow" }), global,
    el("button", { id: "global-compatibility", onclick: () => compatibilityDialog(null, globalLevel) }, "Change"),
    el("button", { class: "primary", id: "register-schema-open", onclick: () => registerDialog(null, null) }, "Register schema")), listBox);
  async function load() {
    UI.setRouteParams("/schemas", { q: state.q, offset: state.offset || "" });
    const data = await UI.get("/schemas?" + new URLSearchParams({ q: state.q, offset: state.offset, limit: LIMIT }));
    globalLevel = data.global_compatibility;
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
      el("div", { class: "card" }, el("div", { class: "label" }, "Compatibility"), el("div", { class: "value text", id: "compatibility" }, s.compatibility),
        el("div", { class: "sub" }, `set ${s.compatibility_source === "default" ? "nowhere (the default)" : "on the " + s.compatibility_source} · `,
          el("a", { href: "javascript:void 0", id: "change-compatibility", onclick: () => compatibilityDialog(s.subject, s.compatibility, s.compatibility_source) }, "change")))),
    s.metadata ? el("p", { class: "muted" }, `Schema metadata: group ${s.metadata.schema_group}, ${s.metadata.evolve ? "evolves" : "does not evolve"}, validation ${s.metadata.validation_level}${s.metadata.description ? " · " + s.metadata.description : ""}`) : "",
    el("div", { class: "toolbar" }, el("a", { href: "#/schemas" }, "‹ All subjects"), el("span", { class: "grow" }),
      el("button", { class: "primary", id: "register-version-open", onclick: () => registerDialog(s.subject, latest) }, "Register new version")),
    el("h2", {}, "Versions"),
    UI.table([
      { label: "Version", num: true, render: (v) => el("a", { href: "javascript:void 0", onclick: () => show(v) }, `v${v.version}`) },
      { label: "Schema id", num: true, key: "id" },
      { label: "Type", key: "schema_type" },
      { label: "Branch", render: (v) => v.branch || "–" },
      { label: "State", render: (v) => (v.state ? UI.badge(v.state, v.state === "Enabled" ? "ok" : "") : "–") },
      { label: "References", num: true, render: (v) => String(v.references.length) },
      { label: "", render: (v) => (v.deleted ? UI.badge("deleted", "Dead") : el("span", {}, v.actions.map((a) => [
        el("button", { class: "small" + (a === "delete" ? " danger" : ""), "data-action": a, onclick: () => changeState(v, a) }, ACTION_LABELS[a] || a), " "]))) },
    ], s.versions, { rowAttrs: (v) => ({ "data-version": v.version }) }),
    ...(s.serdes.length ? [el("h2", {}, "Serdes"), UI.table([
      { label: "Name", key: "name" },
      { label: "Serializer", render: (x) => el("span", { class: "mono" }, x.serializer_class_name) },
      { label: "Deserializer", render: (x) => el("span", { class: "mono" }, x.deserializer_class_name) },
      { label: "File", render: (x) => el("span", { class: "mono" }, x.file_id) },
      { label: "Description", cls: "wrap", key: "description" },
    ], s.serdes)] : []),
    ...(s.branches.length ? [el("h2", {}, "Branches"), UI.table([{ label: "Branch", key: "name" }, { label: "From version", render: (b) => (b.root_version ? `v${b.root_version}` : "–") }, { label: "Description", key: "description" }], s.branches)] : []),
    viewer,
    el("h2", {}, "Compare versions"), el("div", { class: "toolbar" }, from, el("span", {}, "→"), to), diffBox);
  if (latest) show(latest);
  diff();

  async function changeState(v, action) {
    try {
      const r = await UI.api("POST", `/schemas/${encodeURIComponent(s.subject)}/versions/${v.version}/state`, { action });
      UI.flashNext(`Version ${v.version} of ${s.subject} is now ${r.state}.`, "info");
      Pages.route();
    } catch (e) { UI.flash(UI.errorText(e), "error"); }
  }
};
})();

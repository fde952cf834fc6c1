// Topics: the list (server-side search, sort and paging), create; one topic's
// partitions, configs (with sources; edit, reset), consumers, producers; add
// partitions, delete (typing the name to confirm).
"use strict";

(function () {
const Pages = window.Pages || (window.Pages = {});
const { el } = UI;
const LIMIT = 50;

Pages.topics = async function (root) {
  const p = UI.routeParams();
  const state = {
    q: p.get("q") || "", internal: p.get("internal") === "true",
    sort: p.get("sort") || "name", desc: p.get("order") === "desc", offset: Number(p.get("offset") || 0),
  };
  const search = el("input", { type: "search", placeholder: "Search topics", value: state.q, "aria-label": "Search topics" });
  const internal = el("input", { type: "checkbox", id: "show-internal" });
  internal.checked = state.internal;
  const listBox = el("div", {});
  root.replaceChildren(
    el("h1", {}, "Topics"),
    el("div", { class: "toolbar" }, search,
      el("label", {}, internal, " Show internal topics"),
      el("span", { class: "grow" }),
      el("button", { class: "primary", onclick: () => createDialog() }, "Create topic")),
    listBox);

  async function load() {
    UI.setRouteParams("/topics", { q: state.q, internal: state.internal, sort: state.sort === "name" ? "" : state.sort, order: state.desc ? "desc" : "", offset: state.offset || "" });
    const qs = new URLSearchParams({ q: state.q, internal: state.internal, sort: state.sort, order: state.desc ? "desc" : "asc", offset: state.offset, limit: LIMIT });
    const data = await UI.get("/topics?" + qs);
    const sort = { key: state.sort, desc: state.desc, onSort: (k) => { state.desc = state.sort === k ? !state.desc : k !== "name"; state.sort = k; state.offset = 0; load(); } };
    listBox.replaceChildren(
      UI.table([
        { label: "Name", sort: "name", render: (t) => [el("a", { href: "#/topics/" + encodeURIComponent(t.name) }, t.name), t.internal ? [" ", UI.badge("internal")] : ""] },
        { label: "Partitions", num: true, sort: "partitions", render: (t) => UI.fmtNum(t.partitions) },
        { label: "Messages", num: true, sort: "messages", render: (t) => UI.fmtNum(t.messages) },
        { label: "Size", num: true, sort: "size", render: (t) => UI.fmtBytes(t.size_bytes) },
        { label: "In", num: true, render: (t) => (t.bytes_in_per_sec === null ? "–" : UI.fmtBytes(t.bytes_in_per_sec) + "/s") },
        { label: "Out", num: true, render: (t) => (t.bytes_out_per_sec === null ? "–" : UI.fmtBytes(t.bytes_out_per_sec) + "/s") },
        { label: "Cleanup", key: "cleanup_policy" },
        { label: "Retention", num: true, render: (t) => UI.fmtMs(t.retention_ms) },
      ], data.topics, { rowAttrs: (t) => ({ "data-topic": t.name }), sort, empty: state.q ? `No topic matches “${state.q}”.` : "No topics yet." }),
      UI.pager(data.total, data.offset, data.limit, (o) => { state.offset = o; load(); }));
  }
  search.addEventListener("input", UI.debounce(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 250));
  internal.addEventListener("change", () => { state.internal = internal.checked; state.offset = 0; load(); });
  await load();

  function createDialog() {
    const name = el("input", { id: "new-topic-name", required: true, placeholder: "orders" });
    const parts = el("input", { id: "new-topic-partitions", type: "number", min: 1, value: 1 });
    const configs = el("textarea", { id: "new-topic-configs", placeholder: "retention.ms=604800000\ncleanup.policy=delete" });
    const err = el("div", { class: "error-text" });
    UI.dialog("Create topic", [
      UI.field("Name", name), UI.field("Partitions", parts),
      UI.field("Configs (key=value, one per line; optional)", configs), err,
    ], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "primary", id: "create-topic-submit", onclick: async () => {
        err.textContent = "";
        try {
          const body = { name: name.value.trim(), partitions: Number(parts.value), configs: UI.parseProps(configs.value) };
          const t = await UI.api("POST", "/topics", body);
          close();
          UI.flashNext(`Topic ${t.name} created with ${t.partition_count} partition(s).`, "info");
          location.hash = "#/topics/" + encodeURIComponent(t.name);
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Create"),
    ]);
    name.focus();
  }
};

Pages.topic = async function (root, name) {
  let t = await UI.get("/topics/" + encodeURIComponent(name));
  let tab = UI.routeParams().get("tab") || "partitions";
  const body = el("div", {});
  const tabs = el("div", { class: "tabs" });
  function header() {
    return [
      el("h1", {}, t.name, t.internal ? [" ", UI.badge("internal")] : "", el("small", {}, t.topic_id)),
      el("div", { class: "cards" },
        card("Partitions", UI.fmtNum(t.partition_count)), card("Messages", UI.fmtNum(t.messages)),
        card("Size", UI.fmtBytes(t.size_bytes)), card("Consumer groups", UI.fmtNum(t.groups.length)),
        card("Producers", UI.fmtNum(t.producers.length))),
      el("div", { class: "toolbar" },
        el("a", { href: "#/topics" }, "‹ All topics"),
        t.subjects.length ? el("span", { class: "muted", id: "topic-subjects" }, "Schemas: ", t.subjects.map((s) => [el("a", { href: "#/schemas/" + encodeURIComponent(s) }, s), " "])) : "",
        el("span", { class: "grow" }),
        mirrorOf() ? el("span", { class: "muted", id: "mirror-of" }, "Mirror of ", el("span", { class: "mono" }, mirrorOf()), " (read-only) ") : "",
        mirrorOf() ? el("button", { id: "promote-topic", onclick: promote }, "Promote") : "",
        el("button", { onclick: addPartitions }, "Add partitions"),
        el("button", { class: "danger", onclick: deleteTopic }, "Delete topic")),
      charts, tabs, body];
  }
  const mirrorOf = () => { const c = t.configs.find((x) => x.name === "weir.mirror.source"); return c && c.value; };
  function promote() {
    const err = el("div", { class: "error-text" });
    UI.dialog("Promote " + t.name, [el("p", {}, `The topic stops being a mirror of ${mirrorOf()}: producers may write to it, offsets going on from the mirrored end. A flow still mirroring into it can no longer write there.`), err], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "primary", id: "promote-submit", onclick: async () => {
        try {
          const r = await UI.api("POST", "/topics/" + encodeURIComponent(name) + "/promote");
          close(); UI.flashNext(`${r.topic} promoted: it was a mirror of ${r.mirror_of}.`, "info"); Pages.route();
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Promote"),
    ]);
  }
  const card = (label, value) => el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  // Built once: its own refresh keeps it current across re-renders.
  const charts = Charts.section("Throughput", { topic: name }, ({ data, from, to }) => {
    const s = data.topic.series;
    return [
      Charts.line({ title: "Bytes per second", from, to, format: Charts.rate("B"), series: [{ label: "in", points: Charts.pts(s, "bytes_in") }, { label: "out", points: Charts.pts(s, "bytes_out") }] }),
      Charts.line({ title: "Messages per second", from, to, format: Charts.rate(), series: [{ label: "in", points: Charts.pts(s, "records_in") }, { label: "out", points: Charts.pts(s, "records_out") }] }),
    ];
  });
  function render() {
    root.replaceChildren(...header());
    const names = [["partitions", "Partitions"], ["messages", "Messages"], ["configs", "Configs"], ["consumers", "Consumers"], ["producers", "Producers"]];
    tabs.replaceChildren(...names.map(([k, label]) => el("button", { class: k === tab ? "active" : null, "data-tab": k, onclick: () => { tab = k; UI.setRouteParams("/topics/" + encodeURIComponent(name), { tab }); render(); } }, label)));
    body.replaceChildren(({ partitions, messages: () => Pages.messages(t), configs, consumers, producers })[tab]());
  }
  const partitions = () => UI.table([
    { label: "Partition", num: true, key: "partition" },
    { label: "Leader", num: true, key: "leader" },
    { label: "Start offset", num: true, render: (p) => UI.fmtNum(p.log_start_offset) },
    { label: "End offset", num: true, render: (p) => UI.fmtNum(p.log_end_offset) },
    { label: "High watermark", num: true, render: (p) => UI.fmtNum(p.high_watermark) },
    { label: "Stable offset", num: true, render: (p) => UI.fmtNum(p.last_stable_offset) },
    { label: "Messages", num: true, render: (p) => UI.fmtNum(p.messages) },
    { label: "Size", num: true, render: (p) => UI.fmtBytes(p.size_bytes) },
  ], t.partitions);
  const configs = () => {
    const filter = el("input", { type: "search", placeholder: "Filter configs" });
    const box = el("div", {});
    const draw = () => {
      const f = filter.value.trim().toLowerCase();
      box.replaceChildren(UI.table([
        { label: "Name", render: (c) => el("span", { class: "mono", title: c.documentation }, c.name) },
        { label: "Value", cls: "wrap", render: (c) => el("span", { class: "mono" }, c.sensitive ? "(sensitive)" : (c.value ?? "")) },
        { label: "Source", render: (c) => UI.badge(c.source, c.source === "DYNAMIC_TOPIC_CONFIG" ? "ok" : "") },
        { label: "", render: (c) => c.read_only ? el("span", { class: "muted" }, "read-only") : [
          el("button", { class: "small", "data-config": c.name, onclick: () => editConfig(c) }, "Edit"), " ",
          c.source === "DYNAMIC_TOPIC_CONFIG" ? el("button", { class: "small", onclick: () => alter({ delete: [c.name] }, `${c.name} reset to its default`) }, "Reset") : "",
        ] },
      ], t.configs.filter((c) => !f || c.name.includes(f)), { rowAttrs: (c) => ({ "data-config-row": c.name }) }));
    };
    filter.addEventListener("input", draw);
    draw();
    return el("div", {}, el("div", { class: "toolbar" }, filter, el("span", { class: "muted" }, "DYNAMIC_TOPIC_CONFIG values are this topic's own; the others come from the broker or the default.")), box);
  };
  const consumers = () => UI.table([
    { label: "Group", render: (g) => el("a", { href: "#/groups/" + encodeURIComponent(g.group_id) }, g.group_id) },
    { label: "State", render: (g) => UI.badge(g.state) },
    { label: "Members", num: true, key: "members" },
    { label: "Lag", num: true, render: (g) => UI.fmtNum(g.lag) },
    { label: "Partitions", cls: "wrap", render: (g) => g.partitions.map((p) => `${p.partition}: ${UI.fmtNum(p.committed_offset)} (lag ${UI.fmtNum(p.lag)})`).join(", ") },
  ], t.groups, { empty: "No consumer group has committed offsets on this topic." });
  const producers = () => UI.table([
    { label: "Producer id", num: true, key: "producer_id" },
    { label: "Epoch", num: true, key: "producer_epoch" },
    { label: "Client id", render: (p) => (p.client_id === null ? el("span", { class: "muted", title: "Initialised before the last restart" }, "unknown") : el("span", { class: "mono" }, p.client_id || "(empty)")) },
    { label: "Host", render: (p) => p.client_host || "–" },
    { label: "Transactional id", render: (p) => (p.transactional_id ? el("span", { class: "mono" }, p.transactional_id) : "–") },
    { label: "Records/s", num: true, render: (p) => (p.records_per_sec ? p.records_per_sec.toFixed(1) : "0") },
    { label: "Partitions", cls: "wrap", render: (p) => p.partitions.map((x) => x.partition).join(", ") },
    { label: "Open transaction", render: (p) => p.partitions.filter((x) => x.current_txn_start_offset !== null).map((x) => `${x.partition}@${x.current_txn_start_offset}`).join(", ") || "–" },
    { label: "Last write", render: (p) => UI.fmtTime(p.last_timestamp) },
  ], t.producers, { empty: "No idempotent or transactional producer has written here recently." });

  async function alter(change, done) {
    try {
      t = await UI.api("PATCH", "/topics/" + encodeURIComponent(name) + "/configs", change);
      render();
      UI.flash(done, "info");
    } catch (e) { UI.flash(UI.errorText(e), "error"); }
  }
  function editConfig(c) {
    const value = el("input", { id: "config-value", value: c.value ?? "", class: "mono" });
    const err = el("div", { class: "error-text" });
    UI.dialog("Edit " + c.name, [el("p", { class: "muted" }, c.documentation), UI.field("Value", value), err], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "primary", id: "config-save", onclick: async () => {
        try {
          t = await UI.api("PATCH", "/topics/" + encodeURIComponent(name) + "/configs", { set: { [c.name]: value.value.trim() } });
          close(); render(); UI.flash(`${c.name} set to ${value.value.trim()}`, "info");
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Save"),
    ]);
    value.focus();
  }
  function addPartitions() {
    const count = el("input", { id: "partition-count", type: "number", min: t.partition_count + 1, value: t.partition_count + 1 });
    const err = el("div", { class: "error-text" });
    UI.dialog("Add partitions to " + t.name, [el("p", { class: "muted" }, `The topic has ${t.partition_count}. Keys hash to other partitions afterwards.`), UI.field("New total", count), err], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "primary", onclick: async () => {
        try {
          t = await UI.api("POST", "/topics/" + encodeURIComponent(name) + "/partitions", { count: Number(count.value) });
          close(); render(); UI.flash(`${t.name} now has ${t.partition_count} partitions.`, "info");
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Add"),
    ]);
  }
  function deleteTopic() {
    const confirm = el("input", { id: "delete-confirm", placeholder: t.name });
    const err = el("div", { class: "error-text" });
    let go;
    UI.dialog("Delete topic " + t.name, [
      el("p", {}, "This deletes the topic and all its ", UI.fmtNum(t.messages), " messages. It cannot be undone."),
      UI.field("Type the topic's name to confirm", confirm), err,
    ], (close) => [
      el("button", { onclick: close }, "Cancel"),
      go = el("button", { class: "danger solid", id: "delete-submit", disabled: true, onclick: async () => {
        try {
          await UI.api("DELETE", "/topics/" + encodeURIComponent(name));
          close(); UI.flashNext(`Topic ${name} deleted.`, "info"); location.hash = "#/topics";
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Delete"),
    ]);
    confirm.addEventListener("input", () => { go.disabled = confirm.value !== t.name; });
    confirm.focus();
  }
  render();
};
})();

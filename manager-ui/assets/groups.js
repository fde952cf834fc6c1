// Groups of every kind (classic, consumer, share): the list (search, state
// filter, sort by lag, paging); one group's members and per-partition offsets
// and lag; reset offsets (only while the group has no members, as Kafka
// requires) and delete. A share group's offsets are its share-partitions' start
// offsets, and a reset moves those.
"use strict";

(function () {
const Pages = window.Pages || (window.Pages = {});
const { el } = UI;
const LIMIT = 50;
const STATES = ["", "Stable", "Empty", "PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling", "Dead"];

Pages.groups = async function (root) {
  const p = UI.routeParams();
  const state = { q: p.get("q") || "", st: p.get("state") || "", sort: p.get("sort") || "lag", desc: p.get("order") !== "asc", offset: Number(p.get("offset") || 0) };
  const search = el("input", { type: "search", placeholder: "Search groups", value: state.q, "aria-label": "Search groups" });
  const stateSel = el("select", { "aria-label": "State" }, STATES.map((s) => el("option", { value: s }, s || "All states")));
  stateSel.value = state.st;
  const listBox = el("div", {});
  root.replaceChildren(el("h1", {}, "Groups"), el("div", { class: "toolbar" }, search, stateSel), listBox);
  async function load() {
    UI.setRouteParams("/groups", { q: state.q, state: state.st, sort: state.sort === "lag" ? "" : state.sort, order: state.desc ? "" : "asc", offset: state.offset || "" });
    const qs = new URLSearchParams({ q: state.q, sort: state.sort, order: state.desc ? "desc" : "asc", offset: state.offset, limit: LIMIT });
    if (state.st) qs.set("state", state.st);
    const data = await UI.get("/groups?" + qs);
    const sort = { key: state.sort, desc: state.desc, onSort: (k) => { state.desc = state.sort === k ? !state.desc : k !== "name"; state.sort = k; state.offset = 0; load(); } };
    listBox.replaceChildren(
      UI.table([
        { label: "Group", sort: "name", render: (g) => el("a", { href: "#/groups/" + encodeURIComponent(g.group_id) }, g.group_id) },
        { label: "State", sort: "state", render: (g) => UI.badge(g.state) },
        { label: "Type", key: "type" },
        { label: "Members", num: true, sort: "members", render: (g) => UI.fmtNum(g.members) },
        { label: "Topics", num: true, render: (g) => UI.fmtNum(g.topics) },
        { label: "Partitions", num: true, render: (g) => UI.fmtNum(g.partitions) },
        { label: "Total lag", num: true, sort: "lag", render: (g) => el("span", { class: g.lag > 0 ? "lag" : null, "data-lag": g.lag }, UI.fmtNum(g.lag)) },
      ], data.groups, { rowAttrs: (g) => ({ "data-group": g.group_id }), sort, empty: state.q || state.st ? "No group matches." : "No groups yet." }),
      UI.pager(data.total, data.offset, data.limit, (o) => { state.offset = o; load(); }));
  }
  search.addEventListener("input", UI.debounce(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 250));
  stateSel.addEventListener("change", () => { state.st = stateSel.value; state.offset = 0; load(); });
  await load();
  Pages.every(10000, () => load().catch(() => {}));
};

Pages.group = async function (root, id) {
  const path = "/groups/" + encodeURIComponent(id);
  let g = await UI.get(path);
  const card = (label, value) => el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  const charts = Charts.section("Lag", { group: id }, ({ data, from, to }) => [
    Charts.line({ title: "Lag (records)", from, to, format: Charts.short, series: [{ label: id, points: Charts.pts(data.group.series, "lag") }] }),
  ]);
  function render() {
    const empty = g.members.length === 0;
    const share = g.type === "share";
    root.replaceChildren(
      el("h1", {}, g.group_id, " ", UI.badge(g.state), el("small", {}, `${g.type} group · ${g.protocol_type || "no protocol"} ${g.protocol || ""}`)),
      el("div", { class: "cards" }, card("Members", UI.fmtNum(g.members.length)), card("Partitions", UI.fmtNum(g.offsets.length)), card("Total lag", UI.fmtNum(g.lag)), card(g.type === "classic" ? "Generation" : "Group epoch", UI.fmtNum(g.epoch))),
      el("div", { class: "toolbar" },
        el("a", { href: "#/groups" }, "‹ All groups"), el("span", { class: "grow" }),
        el("button", { id: "reset-offsets", disabled: !empty, title: empty ? null : "Stop the group's consumers first: Kafka resets only groups without members", onclick: resetDialog }, "Reset offsets"),
        el("button", { class: "danger", disabled: !empty, title: empty ? null : "Only a group without members can be deleted", onclick: deleteGroup }, "Delete group")),
      charts,
      el("h2", {}, "Members"),
      UI.table([
        { label: "Member id", render: (m) => el("span", { class: "mono" }, m.member_id) },
        { label: "Instance id", render: (m) => m.group_instance_id || "–" },
        { label: "Client id", key: "client_id" },
        { label: "Host", key: "client_host" },
        { label: "Assignment", cls: "wrap", render: (m) => m.assignment.map((a) => `${a.topic} [${a.partitions.join(", ")}]`).join("; ") || "–" },
      ], g.members, { empty: "No members: the group is not consuming now." }),
      el("h2", {}, "Offsets"),
      UI.table([
        { label: "Topic", render: (o) => el("a", { href: "#/topics/" + encodeURIComponent(o.topic) }, o.topic) },
        { label: "Partition", num: true, key: "partition" },
        { label: share ? "Start offset" : "Committed", num: true, render: (o) => UI.fmtNum(o.committed_offset) },
        { label: "End offset", num: true, render: (o) => UI.fmtNum(o.log_end_offset) },
        { label: "Lag", num: true, render: (o) => el("span", { "data-lag": o.lag }, UI.fmtNum(o.lag)) },
        { label: "Member", render: (o) => o.client_id ? `${o.client_id}` : "–" },
      ], g.offsets, { empty: share ? "The group has read no partition yet." : "The group has committed no offsets.", rowAttrs: (o) => ({ "data-topic": o.topic, "data-partition": o.partition }) }));
  }
  async function reload() { g = await UI.get(path); render(); }

  function resetDialog() {
    const topics = [...new Set(g.offsets.map((o) => o.topic))];
    const topic = el("select", { id: "reset-topic" }, el("option", { value: "" }, "Every topic the group has offsets for"), topics.map((t) => el("option", { value: t }, t)));
    const other = el("input", { id: "reset-other-topic", placeholder: "or another topic name" });
    const to = el("select", { id: "reset-to" }, [["earliest", "Earliest"], ["latest", "Latest"], ["timestamp", "A time"], ["offset", "An offset"], ["shift", "Shift by N"]].map(([v, l]) => el("option", { value: v }, l)));
    const value = el("input", { id: "reset-value", placeholder: "" });
    const valueRow = UI.field("Value", value);
    const preview = el("div", {});
    const err = el("div", { class: "error-text" });
    const sync = () => {
      const v = to.value;
      valueRow.hidden = v === "earliest" || v === "latest";
      value.type = v === "timestamp" ? "datetime-local" : "number";
      valueRow.querySelector("label").textContent = { timestamp: "Time (your local time)", offset: "Offset", shift: "Shift (negative to rewind)" }[v] || "Value";
    };
    to.addEventListener("change", sync);
    sync();
    const body = () => {
      const b = { to: to.value };
      const t = other.value.trim() || topic.value;
      if (t) b.topic = t;
      if (to.value === "timestamp") { const ms = new Date(value.value).getTime(); if (isNaN(ms)) throw new Error("enter a time"); b.timestamp = ms; }
      if (to.value === "offset") b.offset = Number(value.value);
      if (to.value === "shift") b.shift = Number(value.value);
      return b;
    };
    const run = async (dryRun, close) => {
      err.textContent = "";
      try {
        const r = await UI.api("POST", path + "/reset-offsets", { ...body(), dry_run: dryRun });
        if (dryRun) {
          preview.replaceChildren(el("h2", {}, "Preview"), UI.table([
            { label: "Topic", key: "topic" }, { label: "Partition", num: true, key: "partition" },
            { label: "Now", num: true, render: (o) => UI.fmtNum(o.previous_offset) }, { label: "After", num: true, render: (o) => UI.fmtNum(o.new_offset) },
          ], r.offsets));
        } else {
          close(); await reload();
          UI.flash(`Offsets of ${r.offsets.length} partition(s) reset.`, "info");
        }
      } catch (e) { err.textContent = UI.errorText(e); }
    };
    UI.dialog("Reset offsets of " + g.group_id, [UI.field("Topic", topic), other, UI.field("Reset to", to), valueRow, err, preview], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { id: "reset-preview", onclick: () => run(true, close) }, "Preview"),
      el("button", { class: "primary", id: "reset-submit", onclick: () => run(false, close) }, "Reset"),
    ]);
  }
  function deleteGroup() {
    const err = el("div", { class: "error-text" });
    const what = g.type === "share" ? "the delivery state of its share-partitions" : "its committed offsets";
    UI.dialog("Delete group " + g.group_id, [el("p", {}, `This deletes the group and ${what}.`), err], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "danger solid", id: "delete-group-submit", onclick: async () => {
        try { await UI.api("DELETE", path); close(); UI.flashNext(`Group ${g.group_id} deleted.`, "info"); location.hash = "#/groups"; } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Delete"),
    ]);
  }
  render();
  Pages.every(10000, () => reload().catch(() => {}));
};
})();

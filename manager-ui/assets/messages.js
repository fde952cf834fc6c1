// The message browser (a topic's Messages tab): partition or all, from
// earliest, latest, an offset or a time; filters on key, value and header done
// by the server; a live tail; each record's key and value decoded through the
// schema registry (schema id, subject and version shown) or as JSON, text or
// hex; a form to produce a record, optionally serialized with a schema.
"use strict";

(function () {
const Pages = window.Pages || (window.Pages = {});
const { el } = UI;

// One line of a key or value for the table.
function short(f) {
  if (!f || f.encoding === "null") return el("span", { class: "muted" }, "null");
  const text = f.encoding === "text" ? f.text : f.encoding === "hex" ? f.hex : JSON.stringify(f.json);
  const cut = text.length > 160 ? text.slice(0, 160) + "…" : text;
  const tag = f.schema_id !== undefined && f.subject !== undefined && f.encoding !== "hex"
    ? UI.badge(`${f.encoding} #${f.schema_id}${f.subject ? " " + f.subject + " v" + f.version : ""}`, "ok")
    : UI.badge(f.encoding);
  return [tag, " ", el("span", { class: "mono" }, cut)];
}

// Everything about a key or value, for the expanded row.
function full(label, f) {
  const body = !f || f.encoding === "null" ? "null"
    : f.encoding === "text" ? f.text : f.encoding === "hex" ? f.hex : JSON.stringify(f.json, null, 2);
  const meta = [`${f ? f.encoding : "null"}`, `${f ? f.size : 0} bytes`];
  if (f && f.schema_id !== undefined) meta.push(`schema id ${f.schema_id}`);
  if (f && f.subject) meta.push(`subject ${f.subject} version ${f.version}`);
  if (f && f.truncated) meta.push("cut to the first 64 KiB");
  return el("div", { class: "msg-field" }, el("div", { class: "msg-field-head" }, el("b", {}, label), " ", el("span", { class: "muted" }, meta.join(" · "))),
    f && f.error ? el("div", { class: "error-text" }, f.error) : "",
    el("pre", { class: "mono" }, body));
}

Pages.messages = function (topic) {
  const t = topic;
  const partition = el("select", { id: "msg-partition", "aria-label": "Partition" }, el("option", { value: "" }, "All partitions"), t.partitions.map((p) => el("option", { value: p.partition }, `Partition ${p.partition}`)));
  const start = el("select", { id: "msg-start", "aria-label": "Start" }, [["earliest", "From the earliest"], ["latest", "The latest"], ["offset", "From an offset"], ["timestamp", "From a time"]].map(([v, l]) => el("option", { value: v }, l)));
  const at = el("input", { id: "msg-at", placeholder: "offset", hidden: true });
  const key = el("input", { id: "msg-key", type: "search", placeholder: "Key contains" });
  const value = el("input", { id: "msg-value", type: "search", placeholder: "Value contains" });
  const header = el("input", { id: "msg-header", type: "search", placeholder: "Header (name or name=value)" });
  const limit = el("select", { id: "msg-limit", "aria-label": "Limit" }, [20, 50, 100, 200].map((n) => el("option", { value: n }, `${n} per page`)));
  limit.value = "50";
  const status = el("span", { class: "muted", id: "msg-status" });
  const list = el("div", { id: "msg-list" });
  let rows = [], cursor = null, tailing = false, tailSeq = 0;
  const tailBtn = el("button", { id: "msg-tail", onclick: () => (tailing ? stopTail() : startTail()) }, "Live tail");
  const nextBtn = el("button", { id: "msg-next", onclick: () => load(true) }, "Next page");
  start.addEventListener("change", () => {
    at.hidden = !["offset", "timestamp"].includes(start.value);
    at.type = start.value === "timestamp" ? "datetime-local" : "number";
  });

  function params(more) {
    const q = new URLSearchParams({ limit: limit.value });
    if (partition.value !== "") q.set("partition", partition.value);
    for (const [k, input] of [["key", key], ["value", value], ["header", header]]) if (input.value.trim()) q.set(k, input.value.trim());
    for (const [k, v] of Object.entries(more)) q.set(k, v);
    return q;
  }
  function startParams() {
    const s = { start: start.value };
    if (start.value === "offset") s.offset = Number(at.value || 0);
    if (start.value === "timestamp") {
      const ms = new Date(at.value).getTime();
      if (isNaN(ms)) throw new Error("enter a time");
      s.timestamp = ms;
    }
    return s;
  }
  async function fetchPage(more) {
    return UI.get("/topics/" + encodeURIComponent(t.name) + "/messages?" + params(more));
  }
  async function load(next) {
    stopTail();
    try {
      const r = await fetchPage(next && cursor ? { cursor } : startParams());
      rows = r.messages;
      cursor = r.cursor;
      status.textContent = `${rows.length} message(s) · ${UI.fmtNum(r.scanned)} scanned`;
      draw();
    } catch (e) { status.textContent = ""; list.replaceChildren(el("div", { class: "flash error" }, UI.errorText(e))); }
  }
  async function startTail() {
    tailing = true;
    const mine = ++tailSeq;
    tailBtn.textContent = "Stop tail";
    tailBtn.classList.add("primary");
    try {
      const first = await fetchPage({ start: "latest" });
      rows = first.messages.slice().reverse();
      cursor = first.cursor;
      draw();
      const view = Pages.current();
      while (tailing && mine === tailSeq && view === Pages.current()) {
        status.textContent = `live: ${rows.length} message(s), newest first`;
        await new Promise((r) => setTimeout(r, 1000));
        if (!tailing || mine !== tailSeq) break;
        const r = await fetchPage({ cursor });
        cursor = r.cursor;
        if (r.messages.length) {
          rows = r.messages.slice().reverse().concat(rows).slice(0, 500);
          draw();
        }
      }
    } catch (e) { list.replaceChildren(el("div", { class: "flash error" }, UI.errorText(e))); stopTail(); }
  }
  function stopTail() {
    tailing = false;
    tailSeq++;
    tailBtn.textContent = "Live tail";
    tailBtn.classList.remove("primary");
  }
  function draw() {
    const open = new Set();
    const table = UI.table([
      { label: "Partition", num: true, key: "partition" },
      { label: "Offset", num: true, render: (m) => UI.fmtNum(m.offset) },
      { label: "Timestamp", render: (m) => UI.fmtTime(m.timestamp) },
      { label: "Key", cls: "msg-cell", render: (m) => short(m.key) },
      { label: "Value", cls: "msg-cell", render: (m) => short(m.value) },
      { label: "Headers", num: true, render: (m) => String(m.headers.length) },
    ], rows, { empty: "No messages match.", rowAttrs: (m) => ({ "data-offset": m.offset, "data-partition": m.partition, class: "msg-row", onclick: (ev) => toggle(ev.currentTarget, m) }) });
    function toggle(tr, m) {
      const id = `${m.partition}:${m.offset}`;
      if (open.has(id)) { open.delete(id); tr.nextSibling.remove(); return; }
      open.add(id);
      const detail = el("tr", { class: "msg-detail" }, el("td", { colspan: 6 },
        full("Key", m.key), full("Value", m.value),
        m.headers.length ? el("div", { class: "msg-field" }, el("b", {}, "Headers"), el("pre", { class: "mono" }, m.headers.map((h) => `${h.key}: ${h.value ?? "null"}`).join("\n"))) : "",
        el("div", { class: "muted" }, `${m.timestamp_type} ${UI.fmtTime(m.timestamp)} · producer id ${m.producer_id}${m.transactional ? " · transactional" : ""}`)));
      tr.after(detail);
    }
    list.replaceChildren(table);
  }
  function produceDialog() {
    const part = el("input", { id: "produce-partition", type: "number", min: 0, placeholder: "by key (murmur2), like Kafka's producer" });
    const k = el("input", { id: "produce-key", placeholder: "optional" });
    const format = el("select", { id: "produce-format" }, [["text", "Text"], ["json", "JSON"], ["schema", "JSON, serialized with a registered schema"]].map(([v, l]) => el("option", { value: v }, l)));
    const subject = el("input", { id: "produce-subject", value: t.name + "-value" });
    const version = el("input", { id: "produce-version", type: "number", min: 1, placeholder: "latest" });
    const schemaRow = el("div", { class: "form-grid", hidden: true }, UI.field("Subject", subject), UI.field("Version", version));
    const v = el("textarea", { id: "produce-value", placeholder: '{"id": 1}' });
    const hdrs = el("textarea", { id: "produce-headers", placeholder: "source=console", style: "min-height:50px" });
    const err = el("div", { class: "error-text" });
    format.addEventListener("change", () => { schemaRow.hidden = format.value !== "schema"; });
    UI.dialog("Produce a message to " + t.name, [
      el("div", { class: "form-grid" }, UI.field("Partition", part), UI.field("Key (text)", k)),
      UI.field("Value format", format), schemaRow, UI.field("Value", v), UI.field("Headers (key=value, one per line)", hdrs), err,
    ], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "primary", id: "produce-submit", onclick: async () => {
        err.textContent = "";
        try {
          const body = { headers: Object.entries(UI.parseProps(hdrs.value)).map(([key, value]) => ({ key, value })) };
          if (part.value !== "") body.partition = Number(part.value);
          if (k.value !== "") body.key = { text: k.value };
          if (format.value === "text") body.value = { text: v.value };
          else {
            let parsed;
            try { parsed = JSON.parse(v.value); } catch (e) { throw new Error("the value is not JSON: " + e.message); }
            body.value = { json: parsed };
            if (format.value === "schema") body.value.schema = { subject: subject.value.trim(), version: version.value ? Number(version.value) : undefined };
          }
          const r = await UI.api("POST", "/topics/" + encodeURIComponent(t.name) + "/messages", body);
          close();
          UI.flash(`Produced to partition ${r.partition} at offset ${UI.fmtNum(r.offset)}.`, "info");
          if (!tailing) load(false);
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Produce"),
    ]);
    v.focus();
  }
  const box = el("div", {},
    el("div", { class: "toolbar" }, partition, start, at, limit,
      el("button", { class: "primary", id: "msg-search", onclick: () => load(false) }, "Show"), nextBtn, tailBtn,
      el("span", { class: "grow" }), el("button", { id: "produce-open", onclick: produceDialog }, "Produce message")),
    el("div", { class: "toolbar" }, key, value, header, status),
    list);
  for (const input of [key, value, header]) input.addEventListener("keydown", (e) => { if (e.key === "Enter") load(false); });
  load(false);
  return box;
};
})();

// Alerts: what fires now, the policies (create, enable/disable, delete), the
// notifiers (webhook or log; create, send a test, delete) and the history.
// The firing list and history refresh every 5 s.
"use strict";

(function () {
const Pages = window.Pages || (window.Pages = {});
const { el } = UI;
const HISTORY_LIMIT = 25;

const METRIC_LABELS = {
  group_lag_records: "Consumer lag (records)",
  group_lag_seconds: "Consumer lag (seconds)",
  topic_bytes_in_per_second: "Bytes in per second (producer activity)",
  topic_bytes_out_per_second: "Bytes out per second",
  disk_free_percent: "Disk free (%)",
  request_error_percent: "Requests with errors (%)",
  request_latency_p99_ms: "Request latency p99 (ms)",
  mirror_lag_records: "Replication lag (records)",
  mirror_lag_seconds: "Replication lag (seconds)",
};
const metricLabel = (m) => METRIC_LABELS[m] || m;
const fmtValue = (v) => (v === null || v === undefined ? "–" : Number.isInteger(v) ? UI.fmtNum(v) : Number(v).toFixed(2));
const severity = (s) => UI.badge(s, s === "critical" ? "failed" : s === "warning" ? "starting" : "");
// The name, and the id the API knows it by when that is not just the name.
const nameWithId = (x) => el("span", {}, x.name, x.id !== x.name ? [" ", el("span", { class: "muted mono" }, x.id)] : "");
const condition = (p) => `${p.operator} ${fmtValue(p.threshold)}${p.for_seconds ? ` for ${p.for_seconds} s` : ""}`;

// The firing alerts as a table (also drawn on the overview).
Pages.firingTable = (firing) => UI.table([
  { label: "Severity", render: (a) => severity(a.severity) },
  { label: "Policy", render: (a) => a.policy_name },
  { label: "Subject", render: (a) => el("span", { class: "mono" }, a.subject) },
  { label: "Value", num: true, render: (a) => fmtValue(a.value) },
  { label: "Since", render: (a) => UI.fmtTime(a.fired_at) },
  { label: "Message", cls: "wrap", render: (a) => a.message },
], firing, { empty: "Nothing is firing.", rowAttrs: (a) => ({ "data-alert": a.policy_id + "/" + a.subject }) });

Pages.alerts = async function (root) {
  const [metrics, firstNotifiers] = await Promise.all([UI.get("/alerts/metrics"), UI.get("/alerts/notifiers")]);
  let notifiers = firstNotifiers.notifiers;
  const firingBox = el("div", {}), policyBox = el("div", {}), notifierBox = el("div", {}), historyBox = el("div", {});
  let historyOffset = 0;
  const head = (title, ...extra) => el("div", { class: "section-head" }, el("h2", {}, title), el("div", { class: "toolbar", style: "margin:0" }, ...extra));
  root.replaceChildren(
    el("h1", {}, "Alerts"),
    head("Firing now"), firingBox,
    head("Policies", el("button", { class: "primary", id: "new-policy", onclick: () => policyDialog() }, "New policy")), policyBox,
    head("Notifiers", el("button", { id: "new-notifier", onclick: () => notifierDialog() }, "New notifier")), notifierBox,
    head("History"), historyBox);

  async function loadFiring() {
    const data = await UI.get("/alerts");
    firingBox.replaceChildren(Pages.firingTable(data.firing));
    Pages.navAlerts(data.firing);
  }
  async function loadPolicies() {
    const data = await UI.get("/alerts/policies");
    policyBox.replaceChildren(UI.table([
      { label: "Name", render: (p) => nameWithId(p) },
      { label: "Watches", cls: "wrap", render: (p) => el("span", {}, metricLabel(p.metric), p.target ? [" of ", el("span", { class: "mono" }, p.target === "*" ? "every " + (metrics.metrics.find((m) => m.metric === p.metric) || {}).target : p.target)] : "") },
      { label: "Condition", render: (p) => condition(p) },
      { label: "Severity", render: (p) => severity(p.severity) },
      { label: "Notifiers", cls: "wrap", render: (p) => p.notifiers.join(", ") || el("span", { class: "muted" }, "history only") },
      { label: "State", render: (p) => (!p.enabled ? UI.badge("disabled") : p.firing ? UI.badge(`${p.firing} firing`, "failed") : UI.badge("ok")) },
      { label: "", render: (p) => [
        el("button", { class: "small", onclick: () => toggle(p) }, p.enabled ? "Disable" : "Enable"), " ",
        el("button", { class: "small", onclick: () => policyDialog(p) }, "Edit"), " ",
        el("button", { class: "small danger", onclick: () => remove("policies", p.id, `Policy ${p.name} deleted.`) }, "Delete"),
      ] },
    ], data.policies, { empty: "No policies yet. A policy watches a metric and raises an alert when it crosses a threshold.", rowAttrs: (p) => ({ "data-policy": p.id }) }));
  }
  async function loadNotifiers() {
    notifiers = (await UI.get("/alerts/notifiers")).notifiers;
    notifierBox.replaceChildren(UI.table([
      { label: "Name", render: (n) => nameWithId(n) },
      { label: "Sends to", cls: "wrap", render: (n) => (n.type === "webhook" ? el("span", {}, UI.badge("webhook"), " ", el("span", { class: "mono url" }, n.url)) : UI.badge("log")) },
      { label: "Policy", cls: "wrap", render: (n) => [n.type === "webhook" ? `${n.max_retries} retries from ${n.retry_backoff_ms} ms` : "", n.type === "webhook" ? el("br", {}) : "", n.rate_limit_per_minute ? `at most ${n.rate_limit_per_minute}/min` : "no rate limit"] },
      { label: "Deliveries", cls: "wrap", render: (n) => `${UI.fmtNum(n.status.sent)} sent · ${UI.fmtNum(n.status.failed)} failed · ${UI.fmtNum(n.status.rate_limited + n.status.dropped)} dropped` },
      { label: "Last error", cls: "wrap", render: (n) => n.status.last_error ? el("span", { class: "error-text" }, n.status.last_error) : "–" },
      { label: "", render: (n) => [
        el("button", { class: "small", onclick: () => test(n) }, "Send test"), " ",
        el("button", { class: "small danger", onclick: () => remove("notifiers", n.id, `Notifier ${n.name} deleted.`) }, "Delete"),
      ] },
    ], notifiers, { empty: "No notifiers. Alerts are kept in the history; add a webhook or the log to be told.", rowAttrs: (n) => ({ "data-notifier": n.id }) }));
  }
  async function loadHistory() {
    const data = await UI.get(`/alerts/history?offset=${historyOffset}&limit=${HISTORY_LIMIT}`);
    historyBox.replaceChildren(UI.table([
      { label: "Time", render: (e) => UI.fmtTime(e.ts) },
      { label: "Status", render: (e) => UI.badge(e.status, e.status === "firing" ? "failed" : "ok") },
      { label: "Severity", render: (e) => severity(e.severity) },
      { label: "Policy", render: (e) => e.policy_name },
      { label: "Subject", render: (e) => el("span", { class: "mono" }, e.subject) },
      { label: "Value", num: true, render: (e) => fmtValue(e.value) },
      { label: "Message", cls: "wrap", render: (e) => e.message },
    ], data.events, { empty: "No alert has fired yet.", rowAttrs: (e) => ({ "data-event": e.status + ":" + e.policy_id + "/" + e.subject }) }),
    UI.pager(data.total, data.offset, data.limit, (o) => { historyOffset = o; loadHistory(); }));
  }
  const refresh = () => Promise.all([loadFiring(), loadPolicies(), loadNotifiers(), loadHistory()]);
  await refresh();
  Pages.every(5000, () => refresh().catch(() => {}));

  async function act(fn, done) {
    try { await fn(); UI.flash(done, "info"); await refresh(); } catch (e) { UI.flash(UI.errorText(e), "error"); }
  }
  function toggle(p) {
    const { firing, ...body } = p;
    body.enabled = !p.enabled;
    act(() => UI.api("PUT", "/alerts/policies/" + encodeURIComponent(p.id), body), `Policy ${p.name} ${body.enabled ? "enabled" : "disabled"}.`);
  }
  function remove(kind, id, done) {
    const what = kind === "policies" ? "policy" : "notifier";
    const err = el("div", { class: "error-text" });
    UI.dialog(`Delete ${what} ${id}`, [
      el("p", {}, kind === "policies" ? "Its firing alerts resolve now; the history keeps them." : "Policies that use it must be changed first."), err,
    ], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "danger solid", id: "alert-delete-submit", onclick: async () => {
        try { await UI.api("DELETE", `/alerts/${kind}/${encodeURIComponent(id)}`); close(); UI.flash(done, "info"); await refresh(); } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Delete"),
    ]);
  }
  async function test(n) {
    try {
      const r = await UI.api("POST", `/alerts/notifiers/${encodeURIComponent(n.id)}/test`);
      UI.flash(`Test sent to ${n.name}: ${r.answer}.`, "info");
    } catch (e) { UI.flash(`Test of ${n.name} failed: ${UI.errorText(e)}`, "error"); }
  }

  function policyDialog(existing) {
    const p = existing || { name: "", metric: "group_lag_records", target: "", operator: "above", threshold: 1000, for_seconds: 0, severity: "warning", notifiers: [], enabled: true };
    const name = el("input", { id: "policy-name", value: p.name, placeholder: "Orders consumers behind" });
    const metric = el("select", { id: "policy-metric" }, metrics.metrics.map((m) => el("option", { value: m.metric }, metricLabel(m.metric))));
    metric.value = p.metric;
    const target = el("input", { id: "policy-target", value: p.target || "" });
    const targetRow = UI.field("Target", target);
    const operator = el("select", { id: "policy-operator" }, el("option", { value: "above" }, "above"), el("option", { value: "below" }, "below"));
    operator.value = p.operator;
    const threshold = el("input", { id: "policy-threshold", type: "number", step: "any", value: p.threshold });
    const forSecs = el("input", { id: "policy-for", type: "number", min: 0, value: p.for_seconds });
    const sev = el("select", { id: "policy-severity" }, ["info", "warning", "critical"].map((s) => el("option", { value: s }, s)));
    sev.value = p.severity;
    const checks = notifiers.map((n) => {
      const c = el("input", { type: "checkbox", value: n.id, "data-notifier-choice": n.id });
      c.checked = p.notifiers.includes(n.id);
      return c;
    });
    const targetKind = () => (metrics.metrics.find((m) => m.metric === metric.value) || {}).target;
    const syncTarget = () => {
      const kind = targetKind();
      targetRow.hidden = !kind;
      target.placeholder = kind ? `a ${kind} name, or * for every ${kind}` : "";
    };
    metric.addEventListener("change", syncTarget);
    syncTarget();
    const err = el("div", { class: "error-text" });
    UI.dialog(existing ? "Edit policy " + p.name : "New alert policy", [
      UI.field("Name", name),
      el("div", { class: "form-grid" }, UI.field("Metric", metric), targetRow),
      el("div", { class: "form-grid" }, UI.field("Operator", operator), UI.field("Threshold", threshold), UI.field("For (seconds)", forSecs), UI.field("Severity", sev)),
      UI.field("Notify", notifiers.length
        ? el("div", {}, notifiers.map((n, i) => el("label", { style: "display:block" }, checks[i], " ", n.name)))
        : el("span", { class: "muted" }, "No notifiers yet: the alert goes to the history only.")),
      err,
    ], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "primary", id: "policy-submit", onclick: async () => {
        err.textContent = "";
        const body = {
          name: name.value.trim(), metric: metric.value, target: targetKind() ? target.value.trim() : null,
          operator: operator.value, threshold: Number(threshold.value), for_seconds: Number(forSecs.value || 0),
          severity: sev.value, notifiers: checks.filter((c) => c.checked).map((c) => c.value), enabled: p.enabled,
        };
        try {
          if (existing) await UI.api("PUT", "/alerts/policies/" + encodeURIComponent(p.id), body);
          else await UI.api("POST", "/alerts/policies", body);
          close();
          UI.flash(`Policy ${body.name} ${existing ? "saved" : "created"}.`, "info");
          await refresh();
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, existing ? "Save" : "Create"),
    ]);
    name.focus();
  }

  function notifierDialog() {
    const name = el("input", { id: "notifier-name", placeholder: "Ops webhook" });
    const type = el("select", { id: "notifier-type" }, el("option", { value: "webhook" }, "HTTP webhook (JSON POST)"), el("option", { value: "log" }, "The process log"));
    const url = el("input", { id: "notifier-url", placeholder: "http://alerts.internal:9000/weir" });
    const headers = el("textarea", { id: "notifier-headers", placeholder: "Authorization=Bearer …" });
    const retries = el("input", { id: "notifier-retries", type: "number", min: 0, max: 10, value: 3 });
    const backoff = el("input", { id: "notifier-backoff", type: "number", min: 10, value: 1000 });
    const rate = el("input", { id: "notifier-rate", type: "number", min: 0, value: 60 });
    const webhookRows = el("div", {}, UI.field("URL", url), UI.field("Extra headers (name=value, one per line; optional)", headers),
      el("div", { class: "form-grid" }, UI.field("Retries", retries), UI.field("First retry after (ms)", backoff)));
    type.addEventListener("change", () => { webhookRows.hidden = type.value !== "webhook"; });
    const err = el("div", { class: "error-text" });
    UI.dialog("New notifier", [UI.field("Name", name), UI.field("Type", type), webhookRows,
      UI.field("Rate limit (notifications per minute; 0 for none)", rate), err], (close) => [
      el("button", { onclick: close }, "Cancel"),
      el("button", { class: "primary", id: "notifier-submit", onclick: async () => {
        err.textContent = "";
        try {
          const body = { name: name.value.trim(), type: type.value, rate_limit_per_minute: Number(rate.value || 0) };
          if (type.value === "webhook") {
            Object.assign(body, { url: url.value.trim(), headers: UI.parseProps(headers.value), max_retries: Number(retries.value || 0), retry_backoff_ms: Number(backoff.value || 1000) });
          }
          await UI.api("POST", "/alerts/notifiers", body);
          close();
          UI.flash(`Notifier ${body.name} created.`, "info");
          await refresh();
        } catch (e) { err.textContent = UI.errorText(e); }
      } }, "Create"),
    ]);
    name.focus();
  }
};
})();

// An application's resource tree: its objects and what they own (owner references:
// Deployment → ReplicaSet → Pod, CronJob → Job → Pod, Service → EndpointSlice), with sync
// status and health per node. Children render only when their parent is expanded, and
// filters (name, kind, health) and grouping by kind keep 500+ nodes fluid. Selecting a node
// opens its panel: live manifest (Secret values masked by the API), desired manifest, diff,
// Kubernetes Events, and for a pod its logs, streamed, with a follow toggle.
//
// The element survives the app page's repaints (the page re-renders on every status event):
// `update(nodes)` re-draws the list but keeps what is expanded, the filters and the panel.

import { get, esc, badge, token, healthSource } from "./api.js";

const MAX_CHILDREN = 200; // per parent, before "show more"
const idOf = (n) => n.uid || `${n.group}/${n.kind}/${n.namespace || ""}/${n.name}`;
const queryOf = (n) => new URLSearchParams({ group: n.group || "", version: n.version || "v1", kind: n.kind, namespace: n.namespace || "", name: n.name }).toString();

function yaml(v, indent = "") {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return v.length ? v.map((x) => `\n${indent}- ${yaml(x, indent + "  ").replace(/^\n\s*/, "")}`).join("") : "[]";
  if (typeof v === "object") {
    const keys = Object.keys(v);
    return keys.length ? keys.map((k) => `\n${indent}${k}: ${yaml(v[k], indent + "  ")}`).join("") : "{}";
  }
  return typeof v === "string" && (v === "" || /[:#\n"'{}[\],&*!|>%@`]|^\s|\s$/.test(v)) ? JSON.stringify(v) : String(v);
}
const manifest = (o) => `<pre class="diff">${esc(yaml(o).replace(/^\n/, ""))}</pre>`;

function diffHtml(d) {
  if (!d) return "<p class=\"muted\">Not tracked by the application: no desired state (its controller owns it).</p>";
  if (!d.diff) return `<p>${badge(d.status)} No difference.</p>`;
  return `<p>${badge(d.status)}</p><pre class="diff">${d.diff.split("\n").map((l) => {
    const cls = l.startsWith("+") && !l.startsWith("+++") ? "add" : l.startsWith("-") && !l.startsWith("---") ? "del" : "";
    return `<span class="${cls}">${esc(l)}</span>`;
  }).join("\n")}</pre>`;
}

export function resourceTree(app, signal) {
  const el = document.createElement("section");
  el.className = "rtree";
  el.innerHTML = `
    <form class="filters" id="tree-filters" role="search" aria-label="Filter resources">
      <label>Name <input id="t-q" type="search" placeholder="name"></label>
      <label>Kind <select id="t-kind"><option value="">any</option></select></label>
      <label>Health <select id="t-health"><option value="">any</option></select></label>
      <label class="check"><input id="t-group" type="checkbox"> Group by kind</label>
      <span id="t-count" class="muted"></span>
    </form>
    <div class="tree" id="tree-list"></div>
    <div id="node-panel" class="node-panel" hidden>
      <h3 id="node-title"></h3>
      <div role="tablist" aria-label="Resource views" id="node-tabs"></div>
      <div id="node-body"></div>
    </div>`;
  const $ = (id) => el.querySelector(`#${id}`);
  let nodes = [];
  let byId = new Map();
  const expanded = new Set();
  const shown = new Map(); // parent id → how many children are listed
  let selected = null;
  let logAbort = null;
  let healths = new Map();
  const healthKey = (r) => `${r.group || ""}/${r.kind}/${r.namespace || ""}/${r.name}`;

  function index() {
    byId = new Map(nodes.map((n) => [idOf(n), { ...n, children: [] }]));
    const byUid = new Map([...byId.values()].filter((n) => n.uid).map((n) => [n.uid, n]));
    const roots = [];
    for (const n of byId.values()) {
      const parent = (n.owners || []).map((u) => byUid.get(u)).find(Boolean);
      (parent ? parent.children : roots).push(n);
    }
    const order = (a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
    for (const n of byId.values()) n.children.sort(order);
    return roots.sort(order);
  }

  function matches(n) {
    const q = $("t-q").value.trim().toLowerCase();
    return (!q || n.name.toLowerCase().includes(q)) && (!$("t-kind").value || n.kind === $("t-kind").value) &&
      (!$("t-health").value || (n.health || "None") === $("t-health").value);
  }
  const filtering = () => $("t-q").value.trim() || $("t-kind").value || $("t-health").value;
  // A node stays when it or a descendant matches (filtering opens the way to the matches).
  function keep(n) {
    if (!filtering()) return true;
    n.keep ??= matches(n) || n.children.some(keep);
    return n.keep;
  }

  function li(n) {
    const id = idOf(n);
    const kids = n.children.filter(keep);
    const open = kids.length && (expanded.has(id) || (filtering() && !matches(n)));
    const limit = shown.get(id) || MAX_CHILDREN;
    const toggle = kids.length
      ? `<button type="button" class="tw" data-toggle="${esc(id)}" aria-expanded="${open ? "true" : "false"}" aria-label="${open ? "Collapse" : "Expand"} ${esc(n.kind)} ${esc(n.name)}">${open ? "▾" : "▸"}</button>`
      : `<span class="tw"></span>`;
    return `<li data-kind="${esc(n.kind)}" data-name="${esc(n.name)}">${toggle}
      <span class="kind">${esc(n.kind)}</span> <button type="button" class="node" data-select="${esc(id)}">${esc(n.name)}</button>
      ${n.status ? badge(n.status) : ""} ${n.health ? badge(n.health) : ""}
      ${kids.length && !open ? `<span class="muted">${kids.length} owned</span>` : ""}
      ${open ? `<ul>${kids.slice(0, limit).map(li).join("")}${kids.length > limit
        ? `<li><button type="button" data-more="${esc(id)}">Show ${Math.min(MAX_CHILDREN, kids.length - limit)} more of ${kids.length - limit}</button></li>` : ""}</ul>` : ""}</li>`;
  }

  function paint() {
    for (const n of byId.values()) delete n.keep;
    const roots = index().filter(keep);
    const list = $("tree-list");
    if ($("t-group").checked) {
      const kinds = new Map();
      for (const r of roots) kinds.set(r.kind, [...(kinds.get(r.kind) || []), r]);
      list.innerHTML = [...kinds].map(([k, rs]) => `<details open><summary>${esc(k)} <span class="muted">(${rs.length})</span></summary><ul>${rs.map(li).join("")}</ul></details>`).join("");
    } else {
      list.innerHTML = `<ul>${roots.map(li).join("")}</ul>`;
    }
    $("t-count").textContent = `${nodes.length} objects`;
  }

  function fillFilters() {
    for (const [id, key] of [["t-kind", "kind"], ["t-health", "health"]]) {
      const keepValue = $(id).value;
      const values = [...new Set(nodes.map((n) => n[key] || "None"))].sort();
      $(id).innerHTML = `<option value="">any</option>${values.map((v) => `<option>${esc(v)}</option>`).join("")}`;
      $(id).value = keepValue;
    }
  }

  async function streamLogs(n, follow) {
    logAbort?.abort();
    logAbort = new AbortController();
    const out = $("log-lines");
    out.textContent = "";
    const url = `/api/v1/applications/${encodeURIComponent(app)}/pods/${encodeURIComponent(n.namespace)}/${encodeURIComponent(n.name)}/log?tailLines=500&follow=${follow}`;
    try {
      const r = await fetch(url, { headers: { Authorization: `Bearer ${token()}` }, signal: logAbort.signal });
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        out.textContent = "";
        $("log-state").textContent = body.error || `logs: ${r.status}`;
        $("log-state").setAttribute("role", "alert");
        return;
      }
      $("log-state").textContent = follow ? "following…" : "";
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.textContent += decoder.decode(value, { stream: true });
        if (atEnd) out.scrollTop = out.scrollHeight;
      }
      $("log-state").textContent = follow ? "the container stopped; the stream ended" : "";
    } catch (e) {
      if (e.name !== "AbortError") $("log-state").textContent = e.message;
    }
  }

  async function tab(name) {
    const n = selected;
    logAbort?.abort();
    for (const b of $("node-tabs").querySelectorAll("button")) b.setAttribute("aria-selected", b.dataset.tab === name ? "true" : "false");
    const body = $("node-body");
    const base = `/applications/${encodeURIComponent(app)}`;
    try {
      if (name === "logs") {
        body.innerHTML = `<label class="check"><input type="checkbox" id="log-follow" checked> Follow</label> <span id="log-state" class="muted"></span>
          <pre class="diff logs" id="log-lines" aria-label="Log lines"></pre>`;
        $("log-follow").addEventListener("change", () => streamLogs(n, $("log-follow").checked));
        streamLogs(n, true);
        return;
      }
      body.innerHTML = "<p>Loading…</p>";
      if (name === "events") {
        const ev = await get(`${base}/resource/events?${queryOf(n)}`);
        body.innerHTML = ev.items.length ? `<table id="node-events"><tr><th>When</th><th>Type</th><th>Reason</th><th>Message</th><th>Count</th></tr>${ev.items.map((e) =>
          `<tr><td>${esc(e.at)}</td><td class="${e.type === "Warning" ? "Degraded" : ""}">${esc(e.type)}</td><td>${esc(e.reason)}</td><td>${esc(e.message)}</td><td>${esc(e.count ?? "")}</td></tr>`).join("")}</table>`
          : "<p id=\"node-events\">No events.</p>";
        return;
      }
      const d = await get(`${base}/resource?${queryOf(n)}`);
      body.innerHTML = name === "live" ? (d.live ? manifest(d.live) : "<p>Not in the cluster.</p>")
        : name === "desired" ? (d.desired ? manifest(d.desired) : "<p class=\"muted\">No desired state: not tracked by the application.</p>")
        : diffHtml(d.diff);
    } catch (e) {
      body.innerHTML = `<p role="alert">${esc(e.message)}</p>`;
    }
  }

  function select(id) {
    const n = byId.get(id);
    if (!n) return;
    selected = n;
    $("node-panel").hidden = false;
    const h = healths.get(healthKey(n));
    $("node-title").innerHTML = `${esc(n.kind)} ${esc(n.namespace ? n.namespace + "/" : "")}${esc(n.name)} ${n.health ? badge(n.health) : ""}`
      + (h ? ` <span class="muted health-source">health: ${esc(healthSource(h.source))}${h.message ? ` — ${esc(h.message)}` : ""}</span>` : "");
    const tabs = ["live", "desired", "diff", "events", ...(n.kind === "Pod" && !n.group ? ["logs"] : [])];
    $("node-tabs").innerHTML = tabs.map((t) => `<button type="button" role="tab" data-tab="${t}" id="tab-${t}">${t[0].toUpperCase() + t.slice(1)}</button>`).join("");
    tab("live");
  }

  el.addEventListener("click", (e) => {
    const t = e.target.closest("button");
    if (!t) return;
    if (t.dataset.toggle) {
      const id = t.dataset.toggle;
      if (expanded.has(id) || t.getAttribute("aria-expanded") === "true") expanded.delete(id);
      else expanded.add(id);
      paint();
    } else if (t.dataset.more) {
      shown.set(t.dataset.more, (shown.get(t.dataset.more) || MAX_CHILDREN) + MAX_CHILDREN);
      paint();
    } else if (t.dataset.select) select(t.dataset.select);
    else if (t.dataset.tab) tab(t.dataset.tab);
  });
  el.querySelector("#tree-filters").addEventListener("input", (e) => { if (e.target.id !== "log-follow") paint(); });
  el.querySelector("#tree-filters").addEventListener("submit", (e) => e.preventDefault());
  signal.addEventListener("abort", () => logAbort?.abort());

  return {
    el,
    update(items, statusResources = []) {
      nodes = items;
      // Each managed resource's health as the status has it (with the check behind it).
      healths = new Map(statusResources.filter((r) => r.health).map((r) => [healthKey(r), r.health]));
      fillFilters();
      paint();
      if (selected) selected = byId.get(idOf(selected)) || selected;
    },
  };
}

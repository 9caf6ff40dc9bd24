// One application: status, actions (refresh, sync with prune / dry-run, rollback, pause
// self-heal — each confirmed, showing the impact of what will change; hidden from users who
// may not act), the resource tree (tree.js: owner references, per-node manifests, events, pod
// logs; it keeps its state across this page's repaints), the
// desired-vs-live diff (unified or side by side; Secret values arrive masked), the last
// operation by wave, events (drift included) and history. Refreshed by the event stream.

import { get, post, stream, esc, badge, when, toast, confirmDialog, healthSource } from "./api.js";
import { resourceTree } from "./tree.js";

const keyOf = (k) => `${k.group ? k.group + "/" : ""}${k.kind}/${k.namespace ? k.namespace + "/" : ""}${k.name}`;
const impactOf = (r) => r.impact?.grade || r.impact || "None";

function unified(diff) {
  return `<pre class="diff">${diff.split("\n").map((l) => {
    const cls = l.startsWith("+") && !l.startsWith("+++") ? "add" : l.startsWith("-") && !l.startsWith("---") ? "del" : "";
    return `<span class="${cls}">${esc(l)}</span>`;
  }).join("\n")}</pre>`;
}

function sideBySide(diff) {
  const left = [], right = [];
  for (const l of diff.split("\n")) {
    if (l.startsWith("---") || l.startsWith("+++") || l.startsWith("@@")) continue;
    if (l.startsWith("-")) left.push(`<span class="del">${esc(l.slice(1))}</span>`);
    else if (l.startsWith("+")) right.push(`<span class="add">${esc(l.slice(1))}</span>`);
    else {
      while (left.length < right.length) left.push("");
      while (right.length < left.length) right.push("");
      left.push(esc(l.slice(1)));
      right.push(esc(l.slice(1)));
    }
  }
  return `<div class="sbs"><pre class="diff" aria-label="live">${left.join("\n")}</pre><pre class="diff" aria-label="desired">${right.join("\n")}</pre></div>`;
}

/// The impact of a comparison: its highest grade, counts and the resources that change.
function impactHtml(c) {
  const changed = c.resources.filter((r) => r.status !== "Synced");
  const s = c.summary;
  return `<p>Impact: ${badge(s.max_impact ?? s.maxImpact)} — ${s.create} to create, ${s.update} to update, ${s.delete} to delete.</p>` +
    (changed.length ? `<ul>${changed.map((r) => `<li>${esc(keyOf(r.key))}: ${esc(r.status)} (impact ${esc(impactOf(r))})</li>`).join("")}</ul>` : "<p>Nothing differs.</p>");
}

/// What a sync (or, with `rollbackTo`, a rollback to that deployment) would change.
async function impactSummary(name, rollbackTo) {
  const q = rollbackTo === undefined ? "" : `?rollbackTo=${rollbackTo}`;
  const d = await get(`/applications/${encodeURIComponent(name)}/diff${q}`);
  return { html: impactHtml(d.comparison), comparison: d.comparison };
}

export async function render(main, name, ctx) {
  const enc = encodeURIComponent(name);
  let view = "unified";
  const treeView = resourceTree(name, ctx.signal);
  async function paint() {
    const [rec, diff, events, history, ops, res] = await Promise.all([
      get(`/applications/${enc}`),
      get(`/applications/${enc}/diff`).catch((e) => ({ error: e.message })),
      get(`/applications/${enc}/events`),
      get(`/applications/${enc}/history`),
      get(`/applications/${enc}/operations`),
      get(`/applications/${enc}/resources`).catch(() => ({ items: [] })),
    ]);
    const st = rec.status || {};
    const spec = rec.spec || {};
    const last = ops.items[0];
    const changed = (diff.comparison?.resources || []).filter((r) => r.status !== "Synced");
    main.innerHTML = `
      <p><a href="#/apps">← Applications</a></p>
      <h1>${esc(name)} ${badge(st.sync?.status)} ${badge(st.health?.status)}</h1>
      <p class="muted">${esc(spec.source?.repoURL)} <code>${esc(spec.source?.path)}</code> @ ${esc(spec.source?.targetRevision || "HEAD")}
        → ${esc(spec.destination?.name || spec.destination?.server || "in-cluster")} / ${esc(spec.destination?.namespace)}
        · revision <code>${esc((st.sync?.revision || "").slice(0, 12))}</code>
        ${st.pinned ? ` · pinned to ${esc(st.pinned.revision.slice(0, 12))} by ${esc(st.pinned.by)}` : ""}
        ${st.healPaused ? ` · self-heal paused: ${esc(st.healPaused.reason)}` : ""}</p>
      ${ctx.canAct ? `<div class="actions">
        <button id="refresh" type="button">Refresh</button>
        <button id="sync" type="button" class="primary">Sync…</button>
        <button id="pause" type="button">Pause self-heal…</button>
      </div>` : `<p class="muted">Read-only: you may look, not act.</p>`}
      <h2>Resources</h2>
      ${res.items.length ? `<div id="tree-host"></div>` : `<table><tr><th>Resource</th><th>Status</th><th>Health</th><th>Impact</th></tr>${(st.resources || []).map((r) =>
        `<tr><td>${esc(keyOf(r))}</td><td>${badge(r.status)}</td><td>${r.health ? `${badge(r.health.status)} <span class="muted">${esc(healthSource(r.health.source))}</span>${r.health.message ? `<br>${esc(r.health.message)}` : ""}` : ""}</td><td>${esc(impactOf(r))}</td></tr>`).join("")}</table>`}
      <h2>Diff <span class="muted">(${changed.length} resource(s) differ)</span></h2>
      <div role="group" aria-label="Diff view"><button type="button" id="v-unified" aria-pressed="${view === "unified"}">Unified</button>
      <button type="button" id="v-sbs" aria-pressed="${view === "sbs"}">Side by side</button></div>
      <div id="diff">${diff.error ? `<p role="alert">${esc(diff.error)}</p>` : changed.map((r) =>
        `<h3>${esc(keyOf(r.key))} ${badge(r.status)} impact ${esc(impactOf(r))}</h3>${view === "unified" ? unified(r.diff) : sideBySide(r.diff)}`).join("") || "<p>In sync.</p>"}</div>
      <h2>Last operation</h2>
      ${last ? `<p>${esc(last.kind)} of <code>${esc(last.revision.slice(0, 12))}</code>: ${badge(last.phase)} ${esc(when(last.startedMs ?? last.started_ms))}</p>
        <ol>${(last.progress || []).filter((p) => p.step).map((p) => {
          const t = p.step.tasks;
          const n = Array.isArray(t) ? t.length : t ?? 0;
          // Hook phases run outside the waves (their wave is the lowest number).
          const wave = p.step.wave <= -2147483648 ? "" : ` wave ${esc(p.step.wave)}`;
          return `<li>${esc(p.step.phase)}${wave}: ${esc(n)} task(s)${p.step.prune ? " (prune)" : ""}</li>`;
        }).join("")}</ol>` : "<p>None yet.</p>"}
      <h2>Events</h2>
      <table><tr><th>When</th><th>Kind</th><th>Message</th></tr>${events.items.slice(-30).reverse().map((e) =>
        `<tr><td>${esc(when(e.at_ms ?? e.atMs))}</td><td class="${e.severity === "warning" ? "Degraded" : ""}">${esc(e.kind)}</td><td>${esc(e.message)}</td></tr>`).join("")}</table>
      <h2>History</h2>
      <table><tr><th>ID</th><th>Revision</th><th>Deployed</th><th></th></tr>${history.items.map((h) =>
        `<tr><td>${h.id}</td><td><code>${esc(h.revision.slice(0, 12))}</code></td><td>${esc(when(h.deployed_ms ?? h.deployedMs))}</td>
        <td>${ctx.canAct ? `<button type="button" data-rollback="${h.id}">Roll back to this</button>` : ""}</td></tr>`).join("")}</table>`;
    document.getElementById("tree-host")?.replaceWith(treeView.el);
    treeView.update(res.items, st.resources || []);
    const on = (id, f) => document.getElementById(id)?.addEventListener("click", f);
    on("v-unified", () => { view = "unified"; paint(); });
    on("v-sbs", () => { view = "sbs"; paint(); });
    on("refresh", async () => { await post(`/applications/${enc}/refresh`); toast(`${name}: refresh queued`); });
    on("sync", async () => {
      const { html } = await impactSummary(name);
      const ok = await confirmDialog(`Sync ${name}?`, `${html}
        <label><input type="checkbox" id="opt-prune"> Prune: delete live objects Git no longer declares</label><br>
        <label><input type="checkbox" id="opt-dry"> Dry run: only show what would change</label>`, "Sync");
      if (!ok) return;
      const body = { prune: document.getElementById("opt-prune").checked, dryRun: document.getElementById("opt-dry").checked };
      const r = await post(`/applications/${enc}/sync`, body);
      if (body.dryRun) await confirmDialog(`Dry run of ${name}: nothing was changed`, impactHtml(r.comparison), "Close");
      else toast(`${name}: sync queued${body.prune ? " (with prune)" : ""}`);
    });
    on("pause", async () => {
      const ok = await confirmDialog(`Pause self-heal of ${name}?`, `<p>Drift is recorded but not reverted while paused.</p>
        <label>For <input id="pause-for" value="30m" size="6"></label> <label>Reason <input id="pause-why" required></label>`, "Pause");
      if (!ok) return;
      await post(`/applications/${enc}/pause-heal`, { duration: document.getElementById("pause-for").value, reason: document.getElementById("pause-why").value });
      toast(`${name}: self-heal paused`);
      paint();
    });
    for (const b of main.querySelectorAll("[data-rollback]")) {
      b.addEventListener("click", async () => {
        const id = Number(b.dataset.rollback);
        const { html } = await impactSummary(name, id);
        const ok = await confirmDialog(`Roll ${name} back to deployment ${id}?`,
          `${html}<p>The application is held on that revision until a newer commit lands on its branch.</p>`, "Roll back");
        if (!ok) return;
        await post(`/applications/${enc}/rollback`, { id });
        toast(`${name}: rollback to ${id} queued`);
      });
    }
  }
  await paint();
  let pending = null;
  const repaint = () => {
    // Not under an open confirmation: what it shows must stay what the user confirms.
    if (document.getElementById("confirm").open) pending = setTimeout(repaint, 500);
    else paint().catch(() => {});
  };
  stream((type, data) => {
    if (data.application !== name) return;
    clearTimeout(pending); // a burst of updates repaints once
    pending = setTimeout(repaint, 300);
  }, ctx.signal);
}

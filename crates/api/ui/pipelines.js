// Pipelines: stages left to right with what each runs, pending approvals with approve /
// reject (for users whose role allows it; the engine decides), promotion history and the
// pipeline's DORA figures. Live: promotion and status updates repaint the page.

import { get, post, stream, esc, badge, when, toast, confirmDialog } from "./api.js";

export async function renderList(main) {
  const r = await get("/pipelines");
  main.innerHTML = `<h1>Pipelines</h1>${r.items.length ? `<ul>${r.items.map((p) =>
    `<li><a href="#/pipelines/${encodeURIComponent(p.name)}">${esc(p.name)}</a>: ${p.stages.map((s) => esc(s.name)).join(" → ")}</li>`).join("")}</ul>`
    : "<p>No pipelines. Define one (<code>kind: Pipeline</code>) in the config directory or with <code>driftless pipeline apply</code>.</p>"}`;
}

function secs(v) {
  return v == null ? "n/a" : v < 120 ? `${Math.round(v)} s` : v < 7200 ? `${Math.round(v / 60)} min` : `${(v / 3600).toFixed(1)} h`;
}

export async function renderOne(main, name, ctx) {
  const enc = encodeURIComponent(name);
  async function paint() {
    const [p, proms, dora] = await Promise.all([
      get(`/pipelines/${enc}`),
      get(`/promotions?pipeline=${enc}&limit=30`),
      get(`/dora?pipeline=${enc}&days=30`),
    ]);
    const waiting = proms.items.filter((x) => x.phase === "WaitingApproval" || x.phase === "WaitingGates");
    const mayDecide = ctx.me.roles.some((r) => r !== "readonly");
    const d = dora.dora;
    main.innerHTML = `
      <p><a href="#/pipelines">← Pipelines</a></p>
      <h1>Pipeline ${esc(name)}</h1>
      <div class="stages" role="list" aria-label="Stages">${p.stages.map((s, i) => `${i ? '<span class="arrow" aria-hidden="true">→</span>' : ""}
        <section class="stage" role="listitem" aria-label="Stage ${esc(s.name)}">
          <h2>${esc(s.name)}</h2>
          <p class="muted">${s.from ? `from ${esc(s.from)}` : "first stage"}${s.autoPromote ? " · auto" : ""}${s.approval ? ` · ${s.approval.required} approval(s)${s.approval.role ? ` (${esc(s.approval.role)})` : ""}` : ""}</p>
          <ul>${s.applications.map((a) => `<li><a href="#/apps/${encodeURIComponent(a.name)}">${esc(a.name)}</a> ${badge(a.sync)} ${badge(a.health)}</li>`).join("")}</ul>
          <ul class="muted">${(Array.isArray(s.values) ? s.values : []).map((v) => `<li>${esc(v.freight)}: <code>${esc(v.value ?? "(none)")}</code></li>`).join("")}</ul>
        </section>`).join("")}</div>
      <h2>Pending approvals</h2>
      ${waiting.length ? waiting.map((x) => `<div class="stage" data-promotion="${x.id}">
        <p><strong>#${x.id}</strong> ${esc(x.from)} → ${esc(x.to)} ${badge(x.phase)} — ${esc(x.message)}</p>
        <ul>${x.values.map((v) => `<li>${esc(v.label)}: <code>${esc(v.before ?? "(none)")}</code> → <code>${esc(v.after ?? "(none)")}</code></li>`).join("")}</ul>
        ${mayDecide ? `<div class="actions"><button type="button" class="primary" data-approve="${x.id}">Approve…</button>
        <button type="button" class="danger" data-reject="${x.id}">Reject…</button></div>` : ""}
      </div>`).join("") : "<p>None.</p>"}
      <h2>DORA (last 30 days, stage ${esc(dora.stage)})</h2>
      <table><tr><th>Deployment frequency</th><th>Lead time for changes</th><th>Change failure rate</th><th>Mean time to restore</th></tr>
      <tr><td>${d.deploymentFrequencyPerDay.toFixed(2)} / day (${d.deployments} deployments)</td><td>${secs(d.leadTimeSeconds)}</td>
      <td>${d.changeFailureRate == null ? "n/a" : Math.round(d.changeFailureRate * 100) + " %"}</td><td>${secs(d.meanTimeToRestoreSeconds)}</td></tr></table>
      <h2>Promotions</h2>
      <table><tr><th>#</th><th>From → to</th><th>Phase</th><th>Values</th><th>By</th><th>Created</th><th>Message</th></tr>
      ${proms.items.map((x) => `<tr><td>${x.id}</td><td>${esc(x.from)} → ${esc(x.to)}</td><td>${badge(x.phase)}</td>
        <td>${x.values.map((v) => `<code>${esc(v.after ?? "")}</code>`).join(" ")}</td><td>${esc(x.requestedBy)}</td>
        <td>${esc(when(x.createdMs))}</td><td>${esc(x.message)}</td></tr>`).join("")}</table>`;
    for (const [attr, verb] of [["approve", "Approve"], ["reject", "Reject"]]) {
      for (const b of main.querySelectorAll(`[data-${attr}]`)) {
        b.addEventListener("click", async () => {
          const id = b.dataset[attr];
          const x = proms.items.find((y) => String(y.id) === id);
          const ok = await confirmDialog(`${verb} promotion #${id} (${x.from} → ${x.to})?`,
            `<ul>${x.values.map((v) => `<li>${esc(v.label)}: ${esc(v.before ?? "(none)")} → ${esc(v.after ?? "(none)")}</li>`).join("")}</ul>
             <label>Comment <input id="decision-comment"></label>`, verb);
          if (!ok) return;
          try {
            await post(`/promotions/${id}/${attr}`, { comment: document.getElementById("decision-comment").value });
            toast(`promotion #${id}: ${attr}d`);
          } catch (e) {
            toast(e.message);
          }
          paint();
        });
      }
    }
  }
  await paint();
  let pending = null;
  const repaint = () => {
    if (document.getElementById("confirm").open) pending = setTimeout(repaint, 500);
    else paint().catch(() => {});
  };
  stream((type) => {
    if (type !== "promotion" && type !== "status") return;
    clearTimeout(pending);
    pending = setTimeout(repaint, 500);
  }, ctx.signal);
}

// The audit log with filters (actor, action), and whether its hash chain is intact.

import { get, esc, when } from "./api.js";

export async function render(main) {
  main.innerHTML = `<h1>Audit log <span id="intact" class="muted"></span></h1>
    <form class="filters" id="af" role="search" aria-label="Filter the audit log">
      <label>Actor <input id="actor"></label><label>Action <input id="action" placeholder="promotion.approve"></label>
      <button type="submit">Filter</button></form>
    <table><thead><tr><th>#</th><th>When</th><th>Actor</th><th>Action</th><th>Target</th><th>Details</th></tr></thead><tbody id="arows"></tbody></table>`;
  async function load() {
    const q = new URLSearchParams();
    for (const k of ["actor", "action"]) if (document.getElementById(k).value) q.set(k, document.getElementById(k).value);
    const r = await get(`/audit?${q}`);
    document.getElementById("arows").innerHTML = r.items.slice().reverse().map((a) => `<tr><td>${a.seq}</td><td>${esc(when(a.at_ms ?? a.atMs))}</td>
      <td>${esc(a.actor)}</td><td>${esc(a.action)}</td><td>${esc(a.target)}</td><td><code>${esc(JSON.stringify(a.details))}</code></td></tr>`).join("");
  }
  document.getElementById("af").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  const v = await get("/audit/verify");
  document.getElementById("intact").textContent = v.intact ? `(hash chain intact, ${v.entries} entries)` : `(TAMPERED: ${v.error})`;
  await load();
}

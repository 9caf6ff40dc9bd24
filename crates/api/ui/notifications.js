// Notifications: the outbox, newest first, filtered by application and status; failed ones
// show their error (secrets scrubbed by the engine) and, for admins, a "Send again" button.

import { get, post, esc, when, toast } from "./api.js";

export async function render(main, ctx) {
  main.innerHTML = `<h1>Notifications</h1>
    <form class="filters" id="nf" role="search" aria-label="Filter notifications">
      <label>Application <input id="napp"></label>
      <label>Status <select id="nstatus"><option value="">any</option><option>failed</option><option>pending</option><option>sending</option><option>sent</option></select></label>
      <button type="submit">Filter</button></form>
    <table><thead><tr><th>#</th><th>Created</th><th>Application</th><th>Trigger</th><th>Destination</th><th>Status</th><th>Attempts</th><th>Error</th><th></th></tr></thead><tbody id="nrows"></tbody></table>`;
  async function load() {
    const q = new URLSearchParams({ limit: "200" });
    const app = document.getElementById("napp").value.trim();
    const status = document.getElementById("nstatus").value;
    if (app) q.set("app", app);
    if (status) q.set("status", status);
    const r = await get(`/notifications?${q}`);
    document.getElementById("nrows").innerHTML = r.items.map((m) => `<tr>
      <td>${m.id}</td><td>${esc(when(Date.parse(m.createdAt)))}</td><td>${esc(m.app)}</td><td>${esc(m.trigger)}</td>
      <td>${esc(m.destination)}</td><td class="${m.status === "failed" ? "Failed" : ""}">${esc(m.status)}</td><td>${m.attempts}</td>
      <td>${esc(m.lastError ?? "")}</td>
      <td>${ctx.canAct && (m.status === "failed" || m.status === "sent") ? `<button type="button" data-resend="${m.id}">Send again</button>` : ""}</td></tr>`).join("")
      || `<tr><td colspan="9" class="muted">No notifications.</td></tr>`;
  }
  document.getElementById("nf").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.getElementById("nrows").addEventListener("click", async (e) => {
    const id = e.target.dataset?.resend;
    if (!id) return;
    await post(`/notifications/${id}/resend`);
    toast(`Notification ${id} will be sent again`);
    await load();
  });
  await load();
}

// The GitOps flow as a diagram: repositories → applications → clusters, and pipeline stages,
// drawn as SVG from /api/v1/graph, with the same graph as Mermaid text to copy.

import { get, esc } from "./api.js";

export async function render(main) {
  const g = await get("/graph");
  const columns = ["repository", "application", "cluster", "stage"];
  const col = new Map(columns.map((c) => [c, g.nodes.filter((n) => n.kind === c)]));
  const pos = new Map();
  const w = 230, h = 34;
  columns.forEach((c, x) => col.get(c).forEach((n, y) => pos.set(n.id, { x: 20 + x * (w + 60), y: 40 + y * (h + 14) })));
  const height = 60 + Math.max(1, ...columns.map((c) => col.get(c).length)) * (h + 14);
  const edges = g.edges.filter((e) => pos.has(e.from) && pos.has(e.to)).map((e) => {
    const a = pos.get(e.from), b = pos.get(e.to);
    return `<line x1="${a.x + w}" y1="${a.y + h / 2}" x2="${b.x}" y2="${b.y + h / 2}" stroke="#57606a"/>`;
  }).join("");
  const boxes = [...pos.entries()].map(([id, p]) => {
    const n = g.nodes.find((x) => x.id === id);
    return `<g><rect x="${p.x}" y="${p.y}" width="${w}" height="${h}" rx="5" fill="#f4f6f8" stroke="#57606a"/>
      <text x="${p.x + 8}" y="${p.y + 21}">${esc(n.label.length > 34 ? n.label.slice(0, 33) + "…" : n.label)}</text></g>`;
  }).join("");
  main.innerHTML = `<h1>GitOps flow</h1>
    <svg role="img" aria-label="Repositories, applications, clusters and pipeline stages" width="${columns.length * (w + 60)}" height="${height}">
      ${columns.map((c, x) => `<text x="${20 + x * (w + 60)}" y="20" font-weight="bold">${c}s</text>`).join("")}${edges}${boxes}</svg>
    <h2>Mermaid</h2><p class="muted">The same as <code>driftless graph -o mermaid</code>.</p><pre class="diff">${esc(g.mermaid)}</pre>`;
}

// The GitOps flow drawn as a diagram: /api/v1/graph's Mermaid text (source control, CI, the
// engine, clusters and their stages; promotion gates; live status colours) rendered by Mermaid,
// vendored into the binary (mermaid.min.js, MIT, from npm — no CDN). Nodes link to their
// application, pipeline or cluster page. Scope: everything, one pipeline or one application.
// Refreshed by the event stream, so status colours stay live.
//
// The page's Content-Security-Policy forbids inline styles, so Mermaid's SVG is parsed off the
// page, its <style> moved into a constructed stylesheet and its style attributes applied
// through the CSSOM (both allowed) before it is inserted.

import { get, esc, stream } from "./api.js";

const FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif";
let loading = null;
let drawn = 0;

/// Loads the vendored Mermaid once (3.5 MB: only pages with a diagram pay for it).
function mermaidLib() {
  loading ??= new Promise((ok, fail) => {
    const s = document.createElement("script");
    s.src = "/ui/mermaid.min.js";
    s.onload = () => {
      window.mermaid.initialize({
        startOnLoad: false,
        securityLevel: "strict",
        theme: "base",
        themeVariables: { fontFamily: FONT, fontSize: "14px", primaryColor: "#f4f6f8", lineColor: "#57606a" },
        flowchart: { useMaxWidth: true, curve: "basis", padding: 12, wrappingWidth: 260 },
      });
      ok(window.mermaid);
    };
    s.onerror = () => { loading = null; fail(new Error("the diagram library (mermaid.min.js) did not load")); };
    document.head.append(s);
  });
  return loading;
}

/// Renders Mermaid `text` into `host` under the strict CSP; returns the <svg> element. A
/// text Mermaid cannot parse throws with Mermaid's message.
export async function drawMermaid(host, text) {
  const mermaid = await mermaidLib();
  const id = `dflow${++drawn}`;
  const { svg } = await mermaid.render(id, text);
  // Parsed as HTML: Mermaid's labels are HTML inside <foreignObject>, not well-formed XML.
  const root = new DOMParser().parseFromString(svg, "text/html").querySelector("svg");
  if (!root) throw new Error("the diagram could not be drawn");
  const sheets = [];
  for (const st of [...root.querySelectorAll("style")]) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(st.textContent);
    sheets.push(sheet);
    st.remove();
  }
  const styled = [root, ...root.querySelectorAll("[style]")].filter((e) => e.hasAttribute("style"));
  const styles = styled.map((e, i) => {
    const s = e.getAttribute("style");
    e.removeAttribute("style");
    e.setAttribute("data-sidx", i);
    return s;
  });
  const el = document.importNode(root, true);
  host.replaceChildren(el);
  for (const e of [el, ...el.querySelectorAll("[data-sidx]")]) {
    if (e.dataset.sidx !== undefined) e.style.cssText = styles[Number(e.dataset.sidx)];
  }
  // One diagram on the page at a time: its sheets replace the previous one's.
  document.adoptedStyleSheets = sheets;
  return el;
}

const pageOf = (l) => ({
  application: `#/apps/${encodeURIComponent(l.name)}`,
  pipeline: `#/pipelines/${encodeURIComponent(l.name)}`,
  cluster: `#/clusters/${encodeURIComponent(l.name)}`,
})[l.kind];

/// Makes the diagram's nodes and subgraphs that stand for something with a page into links.
function linkNodes(svg, links) {
  for (const l of links) {
    const href = pageOf(l);
    if (!href) continue;
    const el = svg.querySelector(`g.node[id*="-flowchart-${CSS.escape(l.id)}-"]`) ||
      svg.querySelector(`g.cluster[id="${CSS.escape(l.id)}"], g.cluster[id$="-${CSS.escape(l.id)}"]`);
    if (!el) continue;
    el.classList.add("flow-link");
    el.setAttribute("role", "link");
    el.setAttribute("tabindex", "0");
    el.setAttribute("aria-label", `${l.kind} ${l.name}`);
    el.dataset.href = href;
    el.dataset.kind = l.kind;
    el.dataset.name = l.name;
    el.addEventListener("click", () => { location.hash = href; });
    el.addEventListener("keydown", (e) => { if (e.key === "Enter") location.hash = href; });
  }
}

export async function render(main, ctx) {
  const pipelines = (await get("/pipelines")).items || [];
  const apps = (await get("/applications?summary=true&limit=1000")).items || [];
  main.innerHTML = `<h1>GitOps flow</h1>
    <form class="filters" id="flow-scope" aria-label="What to draw">
      <label>Scope <select id="scope">
        <option value="">Everything</option>
        ${pipelines.map((p) => `<option value="pipeline=${esc(encodeURIComponent(p.name))}">Pipeline ${esc(p.name)}</option>`).join("")}
        ${apps.map((a) => `<option value="application=${esc(encodeURIComponent(a.name))}">Application ${esc(a.name)}</option>`).join("")}
      </select></label>
    </form>
    <p class="muted">Source control → CI triggers → the engine → clusters and their stages; promotions pass their gates
      (yellow: verification steps); red borders are security checks; applications show their live status. Click a node to open its page.</p>
    <div id="flow" class="flow" aria-live="polite"><p>Drawing…</p></div>
    <details><summary>Mermaid text (<code>driftless graph -o mermaid</code>)</summary><pre class="diff" id="flow-text"></pre></details>`;
  const host = document.getElementById("flow");
  const scope = document.getElementById("scope");
  async function paint() {
    const q = scope.value ? `?${scope.value}` : "";
    const g = await get(`/graph${q}`);
    document.getElementById("flow-text").textContent = g.mermaid;
    try {
      const svg = await drawMermaid(host, g.mermaid);
      svg.setAttribute("aria-label", "GitOps flow diagram");
      linkNodes(svg, g.links);
    } catch (e) {
      host.innerHTML = `<p role="alert">${esc(e.message)}</p>`;
    }
  }
  scope.addEventListener("change", () => paint().catch(() => {}));
  await paint();
  let pending = null;
  stream((type) => {
    if (type !== "status") return;
    clearTimeout(pending); // a burst of status changes redraws once
    pending = setTimeout(() => paint().catch(() => {}), 1000);
  }, ctx.signal);
}

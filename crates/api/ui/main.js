// Entry point: login, the hash router (#/apps, #/apps/NAME, #/clusters/NAME (the apps it
// hosts), #/pipelines, #/pipelines/NAME, #/audit, #/notifications, #/graph) and who is logged in. Every page is a module with `render(main, ctx)`.

import { ApiError, get, setToken, token, esc } from "./api.js";
import * as apps from "./apps.js";
import * as app from "./app.js";
import * as pipelines from "./pipelines.js";
import * as audit from "./audit.js";
import * as notifications from "./notifications.js";
import * as graph from "./graph.js";

const main = document.getElementById("main");
let current = null; // the page's AbortController (stops its live updates)

function loginPage(message) {
  main.innerHTML = `
    <h1>Log in</h1>
    <form class="login" id="login">
      <p>Use an API token: the admin token is in <code>api-token</code> in the engine's data
      directory; users' tokens come from their <code>User</code> definitions.</p>
      ${message ? `<p role="alert" class="Failed">${esc(message)}</p>` : ""}
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required>
      <p><button class="primary" type="submit">Log in</button></p>
    </form>`;
  document.getElementById("login").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken(document.getElementById("token").value.trim());
    route();
  });
  document.getElementById("token").focus();
}

async function whoami() {
  const me = await get("/whoami");
  document.getElementById("who").textContent = `${me.name} (${me.roles.join(", ")})`;
  document.getElementById("logout").hidden = false;
  return me;
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  if (!token()) return loginPage();
  let me;
  try {
    me = await whoami();
  } catch (e) {
    setToken("");
    return loginPage(e instanceof ApiError && e.status === 401 ? "That token was refused." : e.message);
  }
  const hash = location.hash.replace(/^#\/?/, "") || "apps";
  const [section, ...rest] = hash.split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) {
    a.toggleAttribute("aria-current", a.getAttribute("href") === `#/${section}`);
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  const ctx = { me, signal: current.signal, canAct: me.admin, reload: route };
  try {
    if (section === "apps" && rest.length) await app.render(main, rest.join("/"), ctx);
    else if (section === "apps") await apps.render(main, ctx);
    else if (section === "clusters" && rest.length) await apps.render(main, { ...ctx, preset: { cluster: rest[0] } });
    else if (section === "pipelines" && rest.length) await pipelines.renderOne(main, rest[0], ctx);
    else if (section === "pipelines") await pipelines.renderList(main, ctx);
    else if (section === "audit") await audit.render(main, ctx);
    else if (section === "notifications") await notifications.render(main, ctx);
    else if (section === "graph") await graph.render(main, ctx);
    else main.innerHTML = `<h1>Not found</h1><p>No page ${esc(hash)}.</p>`;
  } catch (e) {
    main.innerHTML = `<h1>Error</h1><p role="alert">${esc(e.message)}</p>`;
  }
}

document.getElementById("logout").addEventListener("click", () => {
  setToken("");
  document.getElementById("who").textContent = "";
  document.getElementById("logout").hidden = true;
  location.hash = "#/apps";
  route();
});
window.addEventListener("hashchange", route);
route();

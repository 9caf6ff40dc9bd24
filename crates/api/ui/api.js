// The UI's one door to the engine: the same JSON API as the CLI, with the user's bearer
// token (kept in this tab's sessionStorage only), and live updates read from
// /api/v1/stream with fetch (EventSource cannot send the Authorization header).

const KEY = "driftless-token";

export function token() {
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = typeof body === "string" ? "application/yaml" : "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const r = await fetch(`/api/v1${path}`, { method, headers, body: payload });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data.error || `${method} ${path}: ${r.status}`);
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});

/// Calls `onEvent(type, data)` for each server-sent event until `signal` aborts; reconnects
/// after a dropped connection.
export async function stream(onEvent, signal) {
  while (!signal.aborted) {
    try {
      const r = await fetch("/api/v1/stream", {
        headers: { Authorization: `Bearer ${token()}` },
        signal,
      });
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (data) {
            try { onEvent(type, JSON.parse(data)); } catch (_) { /* a keep-alive */ }
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/// Escapes text for innerHTML.
export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function badge(status) {
  const s = esc(status || "Unknown");
  return `<span class="badge ${s}">${s}</span>`;
}

/// Which check produced a health (`driftless_health::HealthSource` as the API writes it).
export function healthSource(src) {
  if (!src) return "";
  switch (src.check) {
    case "lifecycle": return "lifecycle (gone or being deleted)";
    case "builtinKind": return `built-in check for ${src.kind}`;
    case "builtinFamily": return `built-in ${src.family} check for ${src.kind}`;
    case "conditions": return "generic status-conditions rule";
    case "lua": {
      const o = src.origin || {};
      const from = o.from === "argoConfigMap" ? `argocd-cm ${o.key}` : o.from === "directory" ? `file ${o.path}` : "Driftless configuration";
      return `Lua check ${src.selector} (${from})`;
    }
    default: return String(src.check || "");
  }
}

export function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "";
}

export function toast(message) {
  const box = document.getElementById("toast");
  const d = document.createElement("div");
  d.textContent = message;
  box.appendChild(d);
  setTimeout(() => d.remove(), 6000);
}

/// Asks for confirmation in the page's dialog; resolves true on Confirm.
export function confirmDialog(title, bodyHtml, okLabel = "Confirm") {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-body").innerHTML = bodyHtml;
  document.getElementById("confirm-ok").textContent = okLabel;
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

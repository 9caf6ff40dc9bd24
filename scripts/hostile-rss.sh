#!/bin/bash
# Peak RSS of `driftless up` rendering hostile YAML (issue 13): four applications whose sources
# are a 42 KB file of 230 small anchor bombs, one bigger bomb, 90 aliases of a 60 KB string and
# 10,000-deep nesting. Prints each app's render error and the engine's VmHWM.
# Usage: scripts/hostile-rss.sh target/debug/driftless
set -u
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
python3 - "$W" <<'PY'
import os, sys
w = sys.argv[1]
bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
for prev, c in zip("abcd", "bcde"):
    bomb += f"{c}: &{c} [{','.join(['*' + prev] * 10)}]\n"
big = bomb
for prev, c in zip("efg", "fgh"):
    big += f"{c}: &{c} [{','.join(['*' + prev] * 10)}]\n"
files = {
    "many/bomb.yaml": "".join("---\n" + bomb for _ in range(230)),
    "big/bomb.yaml": big,
    "strings/s.yaml": 'a: &a "' + "x" * 60000 + '"\nb: [' + ",".join(["*a"] * 90) + "]\n",
    "deep/d.yaml": "[" * 10000 + "]" * 10000,
}
for path, text in files.items():
    os.makedirs(os.path.join(w, "src", os.path.dirname(path)), exist_ok=True)
    open(os.path.join(w, "src", path), "w").write(text)
os.makedirs(os.path.join(w, "config"), exist_ok=True)
for app in ["many", "big", "strings", "deep"]:
    open(os.path.join(w, "config", app + ".yaml"), "w").write(
        f"apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: {app}}}\nspec:\n"
        f"  source: {{repoURL: {w}/src, path: {app}}}\n  destination: {{namespace: {app}}}\n"
        "  syncPolicy:\n    automated: {prune: true}\n    syncOptions: [CreateNamespace=true]\n")
PY
BIN=$1
"$BIN" up --sandbox --allow-local-sources --listen 127.0.0.1:0 --data-dir "$W/data" --config "$W/config" > "$W/up.out" 2> "$W/up.err" &
PID=$!
API=""
for _ in $(seq 1 120); do
  API=$(grep -o 'api: http://[0-9.:]*' "$W/up.out" | head -1 | cut -d' ' -f2)
  [ -n "$API" ] && break; sleep 0.5
done
TOKEN=$(cat "$W/data/api-token")
N=0
for _ in $(seq 1 120); do
  N=$(curl -s -H "Authorization: Bearer $TOKEN" "$API/api/v1/applications" | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(1 for a in d['items'] if (a.get('status') or {}).get('error')))")
  [ "$N" = "4" ] && break; sleep 0.5
done
echo "apps with a render error: $N of 4"
curl -s -H "Authorization: Bearer $TOKEN" "$API/api/v1/applications" | python3 -c "import json,sys; d=json.load(sys.stdin); [print(' ', a['name'] + ':', (a.get('status') or {}).get('error','')[:150]) for a in d['items']]"
grep -E "VmHWM" /proc/$PID/status
kill $PID; wait $PID 2>/dev/null

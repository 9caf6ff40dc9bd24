#!/usr/bin/env python3
"""Generates assets/protobuf/fields.json: the Kubernetes protobuf field table the sandbox
decodes request bodies with (src/protobuf.rs).

Field numbers and wire types come from the k8s-pb crate's sources (the kube-rs project's
prost bindings, generated from Kubernetes' generated.proto files); JSON names and the kinds
each message serves come from the recorded OpenAPI v2 document. Run from the crate directory:

    python3 scripts/protobuf_fields.py ~/.cargo/registry/src/*/k8s-pb-0.9.0
"""
import json
import os
import re
import sys

PB = sys.argv[1]
OPENAPI = json.load(open("assets/v1.36/openapi-v2.json"))["definitions"]

FIELD = re.compile(r'#\[prost\((\w+)(?:\s*=\s*"([^"]+)")?,\s*(?:(optional|repeated|required),\s*)?(?:boxed,\s*)?tag\s*=\s*"(\d+)"')
NAME = re.compile(r'^\s*pub\s+(r#)?(\w+)\s*:\s*(.*)$')
STRUCT = re.compile(r'^pub struct (\w+)\s*\{')


def openapi_name(module):
    parts = [p.replace("apiextensions_apiserver", "apiextensions-apiserver").replace("kube_aggregator", "kube-aggregator") for p in module]
    return "io.k8s." + ".".join(parts)


def resolve(module, rust_type):
    """The message a Rust type path names, as a module path + struct name."""
    inner = re.findall(r'((?:super::)*(?:[a-z_0-9]+::)*[A-Z]\w*)', rust_type)
    inner = [t for t in inner if t.split("::")[-1] not in ("Option", "Vec", "String", "BTreeMap")]
    if not inner:
        return None
    path = inner[-1].split("::")
    base = list(module)
    while path and path[0] == "super":
        base.pop()
        path.pop(0)
    return ".".join(base + path)


def squash(name):
    return name.replace("_", "").lower()


messages = {}
for root, _, files in os.walk(os.path.join(PB, "src")):
    for f in files:
        if not f.endswith(".rs") or f == "lib.rs":
            continue
        rel = os.path.relpath(os.path.join(root, f), os.path.join(PB, "src"))
        module = rel[:-3].split(os.sep)
        if module[-1] == "mod":
            module = module[:-1]
        lines = open(os.path.join(root, f)).read().split("\n")
        current, pending = None, None
        for i, line in enumerate(lines):
            m = STRUCT.match(line)
            if m:
                current = ".".join(module + [m.group(1)])
                messages[current] = {"module": module, "name": m.group(1), "fields": []}
                continue
            if line.startswith("}"):
                current = None
                continue
            if current is None:
                continue
            m = FIELD.search(line)
            if m:
                pending = m.groups()
                continue
            m = NAME.match(line)
            if m and pending:
                kind, mapspec, label, tag = pending
                rust_type = m.group(3)
                j = i + 1
                while (not rust_type.rstrip().endswith(",") or rust_type.count("<") != rust_type.count(">")) and j < len(lines):
                    rust_type += lines[j].strip()
                    j += 1
                messages[current]["fields"].append({"tag": int(tag), "rust": m.group(2), "kind": kind,
                    "map": mapspec, "label": label or "optional", "type": rust_type})
                pending = None

table, kinds = {}, {}
for full, msg in messages.items():
    oa = OPENAPI.get(openapi_name(msg["module"] + [msg["name"]]), {})
    props = list(oa.get("properties", {}).keys())
    by_squash = {squash(p): p for p in props}
    fields = []
    for fld in msg["fields"]:
        json_name = by_squash.get(squash(fld["rust"]))
        if json_name is None:
            head, *rest = fld["rust"].split("_")
            json_name = head + "".join(w[:1].upper() + w[1:] for w in rest)
        entry = [fld["tag"], json_name, fld["kind"], fld["label"]]
        if fld["kind"] == "message":
            entry.append(resolve(msg["module"], fld["type"]))
        elif fld["kind"] in ("btree_map", "map"):
            entry[2] = "map"
            key, value = [x.strip() for x in fld["map"].split(",")]
            if value == "message":
                ref = resolve(msg["module"], fld["type"].split(",", 1)[1])
                if ref is None:
                    sys.exit(f"{full}.{fld['rust']}: cannot resolve {fld['type']!r}")
                value = "message:" + ref
            entry.append(value)
        fields.append(entry)
    table[full] = fields
    for gvk in oa.get("x-kubernetes-group-version-kind", []):
        gv = gvk["version"] if not gvk["group"] else gvk["group"] + "/" + gvk["version"]
        kinds.setdefault(gv + "/" + gvk["kind"], full)

os.makedirs("assets/protobuf", exist_ok=True)
with open("assets/protobuf/fields.json", "w") as out:
    json.dump({"source": "k8s-pb 0.9.0 field numbers, v1.36 OpenAPI names", "kinds": kinds, "messages": table}, out, separators=(",", ":"), sort_keys=True)
print(len(table), "messages,", len(kinds), "kinds")

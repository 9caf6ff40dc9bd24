#!/usr/bin/env python3
"""Regenerate crates/policy/assets/k8s-v1.36.json.z, the Kubernetes schema `driftless validate` embeds.

Input: the OpenAPI v3 documents recorded from a real v1.36 API server
(crates/sandbox/assets/v1.36/openapi-v3/*.json). Output: one zlib-compressed JSON document
  {"version": "1.36", "kinds": {"apps/v1/Deployment": "io.k8s.api.apps.v1.Deployment", ...},
   "schemas": {"io.k8s.api.apps.v1.Deployment": {...}, ...}}
with every group-version's `components.schemas` merged, descriptions and examples dropped,
`allOf: [{$ref}]` wrappers folded into `$ref` and every `$ref` shortened to the bare schema name.
The policy crate reads the same shape (or a full OpenAPI v2/v3 document) for another version.
Usage: python3 scripts/gen-validation-schema.py [openapi-v3 dir] [output file]
"""
import json, os, sys, zlib

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'crates', 'sandbox', 'assets', 'v1.36', 'openapi-v3')
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, '..', 'crates', 'policy', 'assets', 'k8s-v1.36.json.z')

DROP = {'description', 'example', 'externalDocs', 'default'}

def clean(node):
    if isinstance(node, list):
        return [clean(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if k not in DROP}
    all_of = node.get('allOf')
    if isinstance(all_of, list) and len(all_of) == 1 and set(all_of[0]) == {'$ref'}:
        node.pop('allOf')
        node['$ref'] = all_of[0]['$ref']
    if '$ref' in node:
        node['$ref'] = node['$ref'].split('/')[-1]
    out = {}
    for k, v in node.items():
        if k in ('properties', 'patternProperties'):
            out[k] = {name: clean(s) for name, s in v.items()}
        else:
            out[k] = clean(v)
    return out

schemas, kinds = {}, {}
for name in sorted(os.listdir(src)):
    if not name.endswith('.json'):
        continue
    doc = json.load(open(os.path.join(src, name)))
    for sname, s in doc.get('components', {}).get('schemas', {}).items():
        schemas[sname] = clean(s)
        for gvk in s.get('x-kubernetes-group-version-kind', []):
            group, version, kind = gvk['group'], gvk['version'], gvk['kind']
            # WatchEvent and friends are registered for every group-version; they are not objects.
            if kind in ('WatchEvent', 'DeleteOptions', 'Status', 'APIGroup', 'APIGroupList',
                        'APIResourceList', 'APIVersions'):
                continue
            api_version = f'{group}/{version}' if group else version
            kinds[f'{api_version}/{kind}'] = sname

for s in schemas.values():
    s.pop('x-kubernetes-group-version-kind', None)
data = json.dumps({'version': '1.36', 'kinds': dict(sorted(kinds.items())), 'schemas': dict(sorted(schemas.items()))},
                  separators=(',', ':'), sort_keys=False).encode()
open(out, 'wb').write(zlib.compress(data, 9))
print(f'{len(kinds)} kinds, {len(schemas)} schemas, {len(data)} bytes JSON, {os.path.getsize(out)} bytes compressed -> {out}')

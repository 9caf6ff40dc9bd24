#!/usr/bin/env python3
"""Regenerate crates/core/src/schema/k8s-v1.36.json from ../shared/k8s/v1.36.

Keeps only what merging needs: for every definition, the fields that reference another
definition or carry patch/list metadata (x-kubernetes-patch-merge-key, -patch-strategy,
-list-type, -list-map-keys, -map-type), and for every served kind its definition and scope.
Usage: python3 scripts/gen-k8s-schema.py [path/to/shared/k8s/v1.36]
"""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'k8s', 'v1.36')
spec = json.load(open(os.path.join(root, 'openapi-v2.json')))
defs = spec['definitions']

def ref_name(node):
    r = node.get('$ref') or (node.get('allOf') or [{}])[0].get('$ref')
    return r.split('/')[-1] if r else None

out_defs = {}
for name, d in sorted(defs.items()):
    fields = {}
    for f, p in sorted(d.get('properties', {}).items()):
        e = {}
        r = ref_name(p)
        if r:
            e['ref'] = r
        if p.get('type') == 'array':
            it = ref_name(p.get('items', {}))
            if it:
                e['items'] = it
        if p.get('type') == 'object' and isinstance(p.get('additionalProperties'), dict):
            v = ref_name(p['additionalProperties'])
            if v:
                e['values'] = v
        # Scalar types, for type checks (server-side apply's "failed to create typed patch object").
        if p.get('type') in ('integer', 'number', 'string', 'boolean'):
            e['type'] = p['type']
        for src, dst in (('x-kubernetes-patch-merge-key', 'key'), ('x-kubernetes-patch-strategy', 'strategy'),
                         ('x-kubernetes-list-type', 'listType'), ('x-kubernetes-list-map-keys', 'listKeys'),
                         ('x-kubernetes-map-type', 'mapType')):
            if src in p:
                e[dst] = p[src]
        if e:
            fields[f] = e
    extra = {k: d[k] for k in ('x-kubernetes-map-type',) if k in d}
    if fields or extra:
        out_defs[name] = {'fields': fields, **({'mapType': extra['x-kubernetes-map-type']} if extra else {})}

# Definitions referenced by kept ones but without interesting fields are still needed as
# "known, nothing special" so lookups do not fall back to JSON-merge semantics.
gvk_def = {}
for name, d in defs.items():
    for g in d.get('x-kubernetes-group-version-kind', []):
        gvk_def[(g['group'], g['version'], g['kind'])] = name

kinds = []
disc = os.path.join(root, 'discovery')
for fn in sorted(os.listdir(disc)):
    doc = json.load(open(os.path.join(disc, fn)))
    if doc.get('kind') != 'APIResourceList':
        continue
    gv = doc['groupVersion']
    group, version = (gv.split('/') + [''])[:2] if '/' in gv else ('', gv)
    for r in doc['resources']:
        if '/' in r['name']:
            continue
        kinds.append({'group': group, 'version': version, 'kind': r['kind'], 'plural': r['name'],
                      'namespaced': r['namespaced'], 'def': gvk_def.get((group, version, r['kind']))})

json.dump({'source': 'kube-apiserver v1.36.2 (shared/k8s/v1.36)', 'kinds': kinds, 'defs': out_defs},
          open(os.path.join(os.path.dirname(__file__), '..', 'crates', 'core', 'src', 'schema', 'k8s-v1.36.json'), 'w'),
          separators=(',', ':'), sort_keys=True)

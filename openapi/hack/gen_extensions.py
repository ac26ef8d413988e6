#!/usr/bin/env python3
"""Regenerates openapi/src/extensions.rs: the table of Kubernetes OpenAPI extensions.

The facts come from upstream's Go API types (k8s.io/api and k8s.io/apimachinery at the
release tag matching our k8s-openapi feature, v1.33): the `patchStrategy` / `patchMergeKey`
struct tags and the `+listType`, `+listMapKey`, `+mapType`, `+structType` comment markers,
which upstream's openapi-gen turns into `x-kubernetes-patch-strategy`,
`x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
`x-kubernetes-map-type`. Fields of embedded (`json:",inline"`) structs are folded into the
embedding struct, as openapi-gen does.

Usage: gen_extensions.py <k8s.io/api checkout> <k8s.io/apimachinery checkout> > src/extensions.rs
(both checked out at the v0.33.x tag).
"""
import os
import re
import sys

STRUCT_RE = re.compile(r'^type\s+(\w+)\s+struct\s*\{\s*$')
FIELD_RE = re.compile(r'^\s*(\w+)\s+([^\s`]+)\s+`([^`]*)`')
EMBED_RE = re.compile(r'^\s*\*?([\w\.]+)\s+`([^`]*)`')
MARKER_RE = re.compile(r'^\s*//\s*\+(listType|listMapKey|mapType|structType|patchStrategy|patchMergeKey)=(\S+)\s*$')
TAG_RE = re.compile(r'(\w+):"([^"]*)"')


def parse_package(path):
    """Returns {struct: {"markers": {...}, "fields": [...], "inline": [types]}}."""
    structs = {}
    for name in sorted(os.listdir(path)):
        if not name.endswith('.go') or name.endswith('_test.go'):
            continue
        if name.startswith('zz_generated') or name.startswith('generated') or 'swagger_doc' in name:
            continue
        with open(os.path.join(path, name)) as f:
            lines = f.read().split('\n')
        comments = []
        current = None
        for line in lines:
            stripped = line.strip()
            if current is None:
                m = STRUCT_RE.match(line)
                if m:
                    markers = {}
                    for c in comments:
                        mm = MARKER_RE.match(c)
                        if mm:
                            markers[mm.group(1)] = mm.group(2)
                    current = {'markers': markers, 'fields': [], 'inline': []}
                    structs[m.group(1)] = current
                    comments = []
                    continue
                if stripped.startswith('//'):
                    comments.append(line)
                else:
                    comments = []
                continue
            if stripped == '}':
                current = None
                comments = []
                continue
            if stripped.startswith('//'):
                comments.append(line)
                continue
            if not stripped:
                comments = []
                continue
            em = EMBED_RE.match(line)
            if em:
                tags = dict(TAG_RE.findall(em.group(2)))
                if tags.get('json', '').split(',')[0] == '':
                    current['inline'].append(em.group(1).split('.')[-1])
                comments = []
                continue
            m = FIELD_RE.match(line)
            if m:
                tags = dict(TAG_RE.findall(m.group(3)))
                json_tag = tags.get('json', '')
                json_name = json_tag.split(',')[0]
                markers = {}
                keys = []
                for c in comments:
                    mm = MARKER_RE.match(c)
                    if mm:
                        if mm.group(1) == 'listMapKey':
                            keys.append(mm.group(2))
                        else:
                            markers[mm.group(1)] = mm.group(2)
                if json_name and json_name != '-':
                    current['fields'].append({
                        'name': json_name,
                        'patchStrategy': tags.get('patchStrategy') or markers.get('patchStrategy'),
                        'patchMergeKey': tags.get('patchMergeKey') or markers.get('patchMergeKey'),
                        'listType': markers.get('listType'),
                        'listMapKeys': keys,
                        'mapType': markers.get('mapType'),
                    })
            comments = []
    return structs


def fields_of(structs, name, seen=()):
    # An embedded type from another package can share the embedding struct's name; the
    # `seen` guard keeps that from recursing (such cross-package embeds are not followed).
    s = structs.get(name)
    if s is None or name in seen:
        return []
    out = list(s['fields'])
    for inl in s['inline']:
        out.extend(fields_of(structs, inl, seen + (name,)))
    return out


def main():
    api_root, machinery_root = sys.argv[1], sys.argv[2]
    packages = []
    for group in sorted(os.listdir(api_root)):
        gdir = os.path.join(api_root, group)
        if not os.path.isdir(gdir) or group.startswith('.'):
            continue
        for version in sorted(os.listdir(gdir)):
            vdir = os.path.join(gdir, version)
            if os.path.isfile(os.path.join(vdir, 'types.go')):
                packages.append((f'io.k8s.api.{group}.{version}', vdir))
    packages.append(('io.k8s.apimachinery.pkg.apis.meta.v1',
                     os.path.join(machinery_root, 'pkg/apis/meta/v1')))
    field_rows = []
    struct_rows = []
    for prefix, path in packages:
        structs = parse_package(path)
        for sname in sorted(structs):
            s = structs[sname]
            defn = f'{prefix}.{sname}'
            mt = s['markers'].get('structType') or s['markers'].get('mapType')
            if mt:
                struct_rows.append((defn, mt))
            for f in fields_of(structs, sname):
                if any(f[k] for k in ('patchStrategy', 'patchMergeKey', 'listType', 'mapType')) or f['listMapKeys']:
                    field_rows.append((defn, f))

    def opt(v):
        return 'None' if v is None else f'Some("{v}")'

    print('//! Upstream Kubernetes OpenAPI extensions per field, as a table of facts.')
    print('//!')
    print('//! Generated by `hack/gen_extensions.py` from the `patchStrategy`/`patchMergeKey` struct')
    print('//! tags and `+listType`/`+listMapKey`/`+mapType`/`+structType` markers of upstream\'s Go')
    print('//! API types at v1.33 (k8s.io/api v0.33.9, k8s.io/apimachinery v0.33.9). Do not edit by')
    print('//! hand; rerun the script.')
    print()
    print('/// Extensions upstream puts on one property of one definition.')
    print('#[derive(Debug, Clone, Copy, PartialEq, Eq)]')
    print('pub struct FieldExtensions {')
    print('    /// OpenAPI definition name, e.g. `io.k8s.api.core.v1.Container`.')
    print('    pub definition: &\'static str,')
    print('    /// JSON property name.')
    print('    pub field: &\'static str,')
    print('    /// `x-kubernetes-patch-strategy`.')
    print('    pub patch_strategy: Option<&\'static str>,')
    print('    /// `x-kubernetes-patch-merge-key`.')
    print('    pub patch_merge_key: Option<&\'static str>,')
    print('    /// `x-kubernetes-list-type`.')
    print('    pub list_type: Option<&\'static str>,')
    print('    /// `x-kubernetes-list-map-keys`.')
    print('    pub list_map_keys: &\'static [&\'static str],')
    print('    /// `x-kubernetes-map-type`.')
    print('    pub map_type: Option<&\'static str>,')
    print('}')
    print()
    print('/// Every property upstream annotates, sorted by definition then field.')
    print('pub static FIELDS: &[FieldExtensions] = &[')
    for defn, f in sorted(field_rows, key=lambda r: (r[0], r[1]['name'])):
        keys = ', '.join(f'"{k}"' for k in f['listMapKeys'])
        print('    FieldExtensions {')
        print(f'        definition: "{defn}",')
        print(f'        field: "{f["name"]}",')
        print(f'        patch_strategy: {opt(f["patchStrategy"])},')
        print(f'        patch_merge_key: {opt(f["patchMergeKey"])},')
        print(f'        list_type: {opt(f["listType"])},')
        print(f'        list_map_keys: &[{keys}],')
        print(f'        map_type: {opt(f["mapType"])},')
        print('    },')
    print('];')
    print()
    print('/// Definitions upstream marks as a whole with `x-kubernetes-map-type` (from `+structType`).')
    print('pub static STRUCTS: &[(&str, &str)] = &[')
    for defn, mt in sorted(struct_rows):
        print(f'    ("{defn}", "{mt}"),')
    print('];')


if __name__ == '__main__':
    main()

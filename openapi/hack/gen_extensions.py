#!/usr/bin/env python3
"""Regenerates openapi/src/extensions.rs: the table of Kubernetes OpenAPI extensions.

The facts come from upstream's Go API types (k8s.io/api and k8s.io/apimachinery at the
release tag matching our k8s-openapi feature, v1.33): the `patchStrategy` / `patchMergeKey`
struct tags and the `+listType`, `+listMapKey`, `+mapType`, `+structType` comment markers,
which upstream's openapi-gen turns into `x-kubernetes-patch-strategy`,
`x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
`x-kubernetes-map-type`. Fields of embedded (`json:",inline"`) structs are folded into the
embedding struct, as openapi-gen does.

Usage: gen_extensions.py <k8s.io/api> <k8s.io/apimachinery> <k8s.io/apiextensions-apiserver>
       <k8s.io/kube-aggregator> > src/extensions.rs
(all checked out at the v0.33.9 tag).
"""
import os
import re
import sys

STRUCT_RE = re.compile(r'^type\s+(\w+)\s+struct\s*\{\s*$')
FIELD_RE = re.compile(r'^\s*(\w+)\s+([^\s`]+)\s+`([^`]*)`')
EMBED_RE = re.compile(r'^\s*\*?([\w\.]+)\s+`([^`]*)`')
MARKER_RE = re.compile(r'^\s*//\s*\+(listType|listMapKey|mapType|structType|patchStrategy|patchMergeKey)=(\S+)\s*$')
TAG_RE = re.compile(r'(\w+):"([^"]*)"')
ALIAS_RE = re.compile(r'^type\s+(\w+)\s*=\s*(\w+)\.(\w+)\s*$')
IMPORT_RE = re.compile(r'^\s*(\w+)?\s*"(k8s\.io/[^"]+)"\s*$')


def parse_package(path):
    """Returns ({struct: {"markers", "fields", "inline"}}, {alias: (import path, type)}).

    Type aliases to another package (`type RuleWithOperations = v1.RuleWithOperations`) are
    kept so embedded fields of an aliased type can be resolved there."""
    structs = {}
    aliases = {}
    for name in sorted(os.listdir(path)):
        if not name.endswith('.go') or name.endswith('_test.go'):
            continue
        if name.startswith('zz_generated') or name.startswith('generated') or 'swagger_doc' in name:
            continue
        with open(os.path.join(path, name)) as f:
            lines = f.read().split('\n')
        imports = {}
        for line in lines:
            im = IMPORT_RE.match(line)
            if im:
                alias = im.group(1) or im.group(2).rsplit('/', 1)[-1]
                imports[alias] = im.group(2)
        for line in lines:
            al = ALIAS_RE.match(line)
            if al and al.group(2) in imports:
                aliases[al.group(1)] = (imports[al.group(2)], al.group(3))
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
    return structs, aliases


def fields_of(packages, pkg, name, seen=()):
    """The JSON fields of struct `name` in package `pkg`, with embedded structs folded in
    (following aliases into other parsed packages). `seen` stops self-embedding loops."""
    structs, aliases = packages[pkg]
    if (pkg, name) in seen:
        return []
    if name not in structs:
        target = aliases.get(name)
        if target and target[0] in packages:
            return fields_of(packages, target[0], target[1], seen + ((pkg, name),))
        return []
    out = list(structs[name]['fields'])
    for inl in structs[name]['inline']:
        out.extend(fields_of(packages, pkg, inl, seen + ((pkg, name),)))
    return out


def main():
    api_root, machinery_root, extensions_root, aggregator_root = sys.argv[1:5]
    # (Go import path, OpenAPI definition prefix, directory)
    packages = []
    for group in sorted(os.listdir(api_root)):
        gdir = os.path.join(api_root, group)
        if not os.path.isdir(gdir) or group.startswith('.'):
            continue
        for version in sorted(os.listdir(gdir)):
            vdir = os.path.join(gdir, version)
            if os.path.isfile(os.path.join(vdir, 'types.go')):
                packages.append((f'k8s.io/api/{group}/{version}',
                                 f'io.k8s.api.{group}.{version}', vdir))
    packages.append(('k8s.io/apimachinery/pkg/apis/meta/v1',
                     'io.k8s.apimachinery.pkg.apis.meta.v1',
                     os.path.join(machinery_root, 'pkg/apis/meta/v1')))
    packages.append(('k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1',
                     'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1',
                     os.path.join(extensions_root, 'pkg/apis/apiextensions/v1')))
    packages.append(('k8s.io/kube-aggregator/pkg/apis/apiregistration/v1',
                     'io.k8s.kube-aggregator.pkg.apis.apiregistration.v1',
                     os.path.join(aggregator_root, 'pkg/apis/apiregistration/v1')))
    parsed = {imp: parse_package(path) for imp, _, path in packages}
    field_rows = []
    struct_rows = []
    for imp, prefix, _ in packages:
        structs, _ = parsed[imp]
        for sname in sorted(structs):
            s = structs[sname]
            defn = f'{prefix}.{sname}'
            mt = s['markers'].get('structType') or s['markers'].get('mapType')
            if mt:
                struct_rows.append((defn, mt))
            for f in fields_of(parsed, imp, sname):
                if any(f[k] for k in ('patchStrategy', 'patchMergeKey', 'listType', 'mapType')) or f['listMapKeys']:
                    field_rows.append((defn, f))

    def opt(v):
        return 'None' if v is None else f'Some("{v}")'

    print('//! Upstream Kubernetes OpenAPI extensions per field, as a table of facts.')
    print('//!')
    print('//! Generated by `hack/gen_extensions.py` from the `patchStrategy`/`patchMergeKey` struct')
    print('//! tags and `+listType`/`+listMapKey`/`+mapType`/`+structType` markers of upstream\'s Go')
    print('//! API types at v1.33 (k8s.io/api, k8s.io/apimachinery, k8s.io/apiextensions-apiserver and')
    print('//! k8s.io/kube-aggregator, all at v0.33.9). Do not edit by hand; rerun the script.')
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

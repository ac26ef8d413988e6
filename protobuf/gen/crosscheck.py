#!/usr/bin/env python3
"""Cross-checks src/generated.rs against two independent Rust renderings of upstream's API:

  * k8s-pb (prost): every message's tags, scalar types and repeated/map labels;
  * k8s-openapi (serde): every object's JSON field names, with embedded (inline) structs
    flattened as Go's encoding/json does.

Both crates describe older Kubernetes releases than the generated table may, so fields or
messages missing from them are expected; anything they have that the table lacks or types
differently is reported.

Usage: crosscheck.py <generated.rs> <k8s-pb src dir> <k8s-openapi src/v1_XX dir>
Exit status 1 when a mismatch is found.
"""

import os
import re
import sys


def load_table(path):
    text = open(path).read()
    msgs = []
    for m in re.finditer(r'Message \{ name: "([^"]+)", special: Special::(\w+), fields: &\[(.*?)\] \}', text, re.S):
        fields = []
        for f in re.finditer(r'f\((\d+), "([^"]+)", (\w+), ([\w |]+), (\w+)\)', m.group(3)):
            tag, json, kind, flags, target = f.groups()
            fields.append({"tag": int(tag), "json": json, "kind": kind,
                           "flags": set(x.strip() for x in flags.split("|")),
                           "target": None if target == "NO_MSG" else int(target)})
        msgs.append((m.group(1), m.group(2), fields))
    return msgs


def pb_package(rel):
    # api/core/v1 -> io.k8s.api.core.v1 ; apiextensions_apiserver/... -> io.k8s.apiextensions-apiserver...
    parts = rel.split(os.sep)
    parts[0] = parts[0].replace("_", "-")
    return "io.k8s." + ".".join(parts)


PB_KIND = {"string": "Str", "bytes": "Bytes", "bool": "Bool", "int32": "I32", "int64": "I64",
           "double": "F64", "message": "Msg"}


def load_pb(root):
    out = {}
    for base, _dirs, files in os.walk(root):
        if "mod.rs" not in files:
            continue
        rel = os.path.relpath(base, root)
        if rel == ".":
            continue
        pkg = pb_package(rel)
        text = open(os.path.join(base, "mod.rs")).read()
        for sm in re.finditer(r"pub struct (\w+) \{(\}|.*?\n\})", text, re.S):
            fields = {}
            for fm in re.finditer(r"#\[prost\(([^\]]*)\)\]\s*pub (?:r#)?(\w+):", sm.group(2)):
                attr, _name = fm.groups()
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                if attr.startswith("btree_map"):
                    value = re.search(r'btree_map = "string, (\w+)"', attr).group(1)
                    fields[tag] = (PB_KIND.get(value, "Msg"), "MAP")
                else:
                    ty = attr.split(",")[0].strip()
                    ty = "bytes" if ty.startswith("bytes") else ty
                    fields[tag] = (PB_KIND[ty], "REPEATED" if "repeated" in attr else "")
            out[f"{pkg}.{sm.group(1)}".lower()] = fields
    return out


def load_openapi(root):
    out = {}
    for base, _dirs, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            text = open(os.path.join(base, f)).read()
            nm = re.search(r'fn schema_name\(\) -> std::borrow::Cow<\'static, str> \{\s*"([^"]+)"', text)
            if not nm:
                continue
            names = set(re.findall(r'"([^"]+)" => Field::Key_', text))
            out[nm.group(1)] = names
    return out


def json_names(msgs, index, i, seen=()):
    """JSON keys of message i with inline fields flattened."""
    names = set()
    for f in msgs[i][2]:
        if "INLINE" in f["flags"]:
            if f["target"] not in seen:
                names |= json_names(msgs, index, f["target"], seen + (i,))
        else:
            names.add(f["json"])
    return names


def main():
    table, pb_root, oa_root = sys.argv[1:4]
    msgs = load_table(table)
    index = {n: i for i, (n, _, _) in enumerate(msgs)}
    pb = load_pb(pb_root)
    oa = load_openapi(oa_root)
    problems = 0
    compared_pb = compared_oa = 0
    for i, (name, special, fields) in enumerate(msgs):
        ours = {f["tag"]: f for f in fields}
        theirs = pb.get(name.lower())
        # Special messages are decoded by hand and keep only the fields their JSON needs.
        if theirs is not None and special == "None":
            compared_pb += 1
            for tag, (kind, label) in theirs.items():
                f = ours.get(tag)
                if f is None:
                    print(f"k8s-pb: {name} tag {tag} missing from table")
                    problems += 1
                    continue
                our_label = "MAP" if "MAP" in f["flags"] else "REPEATED" if "REPEATED" in f["flags"] else ""
                if (f["kind"], our_label) != (kind, label):
                    print(f"k8s-pb: {name} tag {tag}: table {f['kind']} {our_label!r}, k8s-pb {kind} {label!r}")
                    problems += 1
        if special == "None" and name in oa:
            compared_oa += 1
            missing = oa[name] - json_names(msgs, index, i)
            # TypeMeta fields are not part of the protobuf messages.
            missing -= {"apiVersion", "kind"}
            for n in sorted(missing):
                print(f"k8s-openapi: {name}: JSON field {n!r} missing from table")
                problems += 1
    print(f"compared {compared_pb} messages with k8s-pb, {compared_oa} with k8s-openapi; "
          f"{problems} problem(s)", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

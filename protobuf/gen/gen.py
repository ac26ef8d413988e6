#!/usr/bin/env python3
"""Generates protobuf/src/generated.rs: the message table the decoder walks.

Inputs are upstream Go API packages (read, never copied into the output):
  <root>/api/...                      kubernetes/api
  <root>/apimachinery/pkg/...         kubernetes/apimachinery
  <root>/apiextensions-apiserver/...  kubernetes/apiextensions-apiserver
  <root>/kube-aggregator/...          kubernetes/kube-aggregator

From each package it derives facts only:
  * generated.proto: message names, field tags, wire types, repeated/map labels;
  * *.go struct tags: the JSON name of each protobuf field, `omitempty`, whether the Go
    field is a pointer (a "keep zero" field), and `json:",inline"` embedding;
  * zz_generated.model_name.go: the OpenAPI definition name of each Go type;
  * register.go: which kinds a group version serves.

Usage: gen.py <root> <out.rs> [label=commit ...]
"""

import os
import re
import sys

SCALARS = {
    "string": "Str",
    "bytes": "Bytes",
    "bool": "Bool",
    "int32": "I32",
    "int64": "I64",
    "double": "F64",
}

# Messages whose JSON form is not an object of their fields; the decoder special-cases them.
SPECIAL = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "RawExtension",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": "RawJson",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSON": "RawJson",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
}


def openapi_package(proto_pkg):
    # k8s.io.api.core.v1 -> io.k8s.api.core.v1; Go module names keep their dashes.
    assert proto_pkg.startswith("k8s.io."), proto_pkg
    return "io.k8s." + proto_pkg[len("k8s.io."):].replace("_", "-")


def parse_proto(path):
    text = open(path).read()
    pkg = re.search(r"^package ([\w\.]+);", text, re.M).group(1)
    messages = {}
    cur = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("//") or not s:
            continue
        m = re.match(r"^message (\w+) \{$", line)
        if m:
            cur = m.group(1)
            messages[cur] = []
            continue
        if line.startswith("}"):
            cur = None
            continue
        if cur is None:
            continue
        m = re.match(r"^(optional|repeated|required) ([\w\.]+) (\w+) = (\d+);$", s)
        if m:
            label, ty, name, tag = m.groups()
            messages[cur].append({"label": label, "type": ty, "name": name, "tag": int(tag)})
            continue
        m = re.match(r"^map<string, ([\w\.]+)> (\w+) = (\d+);$", s)
        if m:
            ty, name, tag = m.groups()
            messages[cur].append({"label": "map", "type": ty, "name": name, "tag": int(tag)})
            continue
        raise SystemExit(f"{path}: unparsed line in message {cur}: {line!r}")
    return pkg, messages


def go_files(d):
    for f in sorted(os.listdir(d)):
        if not f.endswith(".go") or f.endswith("_test.go") or f == "generated.pb.go":
            continue
        if f.startswith("zz_generated") or f.endswith("swagger_doc_generated.go"):
            continue
        yield os.path.join(d, f)


def parse_go(d):
    """Returns ({struct: {proto tag: info}}, {slice wrapper type names})."""
    structs = {}
    wrappers = set()
    for path in go_files(d):
        cur = None
        for line in open(path).read().splitlines():
            m = re.match(r"^type (\w+) \[\]", line)
            if m:
                wrappers.add(m.group(1))
            m = re.match(r"^type (\w+) struct \{", line)
            if m:
                cur = m.group(1)
                structs[cur] = {}
                continue
            if line.startswith("}"):
                cur = None
                continue
            if cur is None:
                continue
            m = re.match(r"^\s*([^`/]*?)\s*`([^`]*)`", line)
            if not m:
                continue
            decl, tags = m.groups()
            pm = re.search(r'protobuf:"([^"]*)"', tags)
            if not pm or pm.group(1) == "-":
                continue
            # Keyed by tag number: some tags carry no name= (EphemeralContainerCommon).
            ptag = pm.group(1).split(",")
            if len(ptag) < 2 or not ptag[1].isdigit():
                continue
            parts = decl.split()
            gotype = parts[-1] if parts else ""
            jm = re.search(r'json:"([^"]*)"', tags)
            jtag = jm.group(1) if jm else ""
            jparts = jtag.split(",")
            jname = jparts[0]
            opts = jparts[1:]
            info = {
                "json": jname,
                "omitempty": "omitempty" in opts or "omitzero" in opts,
                "pointer": gotype.startswith("*"),
                # encoding/json promotes the fields of an embedded struct that has no JSON
                # name, whatever its options (`json:""` and `json:",inline"` alike).
                "inline": len(parts) == 1 and jname == "",
                "skip": jname == "-",
            }
            structs[cur][int(ptag[1])] = info
    return structs, wrappers


def parse_model_names(d):
    path = os.path.join(d, "zz_generated.model_name.go")
    names = {}
    if not os.path.exists(path):
        return names
    text = open(path).read()
    for m in re.finditer(r'func \(in (\w+)\) OpenAPIModelName\(\) string \{\s*return "([^"]+)"', text):
        names[m.group(1)] = m.group(2)
    return names


def parse_register(d, version):
    path = os.path.join(d, "register.go")
    if not os.path.exists(path):
        return None, []
    text = open(path).read()
    gm = re.search(r'const GroupName = "([^"]*)"', text)
    if not gm:
        return None, []
    group = gm.group(1)
    kinds = []
    for body in re.findall(r"AddKnownTypes\(SchemeGroupVersion,(.*?)\)\n", text, re.S):
        kinds += re.findall(r"&(\w+)\{\}", body)
    api_version = f"{group}/{version}" if group else version
    return api_version, kinds


def main():
    root, out = sys.argv[1], sys.argv[2]
    provenance = sys.argv[3:]
    pkgdirs = []
    for base, _dirs, files in os.walk(root):
        if "generated.proto" in files and "testapigroup" not in base:
            pkgdirs.append(base)
    pkgdirs.sort()

    messages = {}  # openapi name -> (fields, special)
    kinds = []
    for d in pkgdirs:
        pkg, protos = parse_proto(os.path.join(d, "generated.proto"))
        structs, wrappers = parse_go(d)
        model_names = parse_model_names(d)
        oapkg = openapi_package(pkg)
        for msg, fields in protos.items():
            name = model_names.get(msg, f"{oapkg}.{msg}")
            if name != f"{oapkg}.{msg}":
                raise SystemExit(f"model name mismatch: {name} vs {oapkg}.{msg}")
            special = SPECIAL.get(name, "None")
            if special == "None" and msg in wrappers and [f["name"] for f in fields] == ["items"]:
                special = "List"
            goinfo = structs.get(msg, {})
            out_fields = []
            for f in fields:
                info = goinfo.get(f["tag"])
                if info is None:
                    info = {"json": f["name"], "omitempty": True, "pointer": False,
                            "inline": False, "skip": False}
                if info["skip"]:
                    continue
                ty = f["type"]
                if ty in SCALARS:
                    kind, target = SCALARS[ty], None
                else:
                    kind = "Msg"
                    if ty.startswith("."):
                        tpkg, _, tmsg = ty[1:].rpartition(".")
                        target = f"{openapi_package(tpkg)}.{tmsg}"
                    else:
                        target = f"{oapkg}.{ty}"
                flags = []
                if f["label"] == "repeated":
                    flags.append("REPEATED")
                if f["label"] == "map":
                    flags.append("MAP")
                if info["pointer"] or not info["omitempty"]:
                    flags.append("KEEP_ZERO")
                if info["inline"]:
                    flags.append("INLINE")
                out_fields.append((f["tag"], info["json"] or f["name"], kind, flags, target))
            out_fields.sort()
            messages[name] = (out_fields, special)
        api_version, ks = parse_register(d, os.path.basename(d))
        for k in ks:
            name = model_names.get(k, f"{oapkg}.{k}")
            if name in messages:
                kinds.append((api_version, k, name))

    names = sorted(messages)
    index = {n: i for i, n in enumerate(names)}
    missing = set()
    lines = []
    w = lines.append
    w("// @generated by protobuf/gen/gen.py -- do not edit by hand.")
    w("//")
    w("// Facts (message names, field tags, wire types, JSON names, omitempty/pointer-ness, kinds)")
    w("// derived from upstream generated.proto, types.go, zz_generated.model_name.go and")
    w("// register.go at:")
    for p in provenance:
        w(f"//   {p}")
    w("// Regenerate: see protobuf/gen/README.md.")
    w("")
    w("use crate::schema::{f, Kind::*, Message, Special};")
    w("use crate::schema::{INLINE, KEEP_ZERO, MAP, NO_MSG, REPEATED};")
    w("")
    w(f"pub(crate) static MESSAGES: [Message; {len(names)}] = [")
    for n in names:
        fields, special = messages[n]
        w(f'    Message {{ name: "{n}", special: Special::{special}, fields: &[')
        for tag, jname, kind, flags, target in fields:
            if target is not None and target not in index:
                missing.add(target)
                continue
            fl = " | ".join(flags) if flags else "0"
            tgt = str(index[target]) if target is not None else "NO_MSG"
            w(f'        f({tag}, "{jname}", {kind}, {fl}, {tgt}),')
        w("    ] },")
    w("];")
    w("")
    kinds = sorted(set(kinds))
    w("/// (apiVersion, kind, index into MESSAGES), sorted for binary search.")
    w(f"pub(crate) static KINDS: [(&str, &str, u16); {len(kinds)}] = [")
    for av, k, n in kinds:
        w(f'    ("{av}", "{k}", {index[n]}),')
    w("];")
    w("")
    with open(out, "w") as fh:
        fh.write("\n".join(lines))
    if missing:
        raise SystemExit(f"unresolved field types (add them to SCALARS or the inputs): {sorted(missing)}")
    print(f"{len(names)} messages, {len(kinds)} kinds", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks schema/openapi.yaml against the daemon (Debian: python3-yaml,
python3-jsonschema).

  oascheck.py SPEC --routes mgmt/api_server.c
      every route of the API's table is a documented operation and every
      documented operation a route; every $ref resolves.
  oascheck.py SPEC --responses DIR
      each recorded response (DIR/N.meta: "METHOD PATH STATUS CONTENT-TYPE",
      DIR/N.body) is documented for its operation and status, and a JSON
      body validates against the response's schema (JSON Schema 2020-12).
Exit 0 when everything matches; every mismatch is printed.
"""
import json
import os
import re
import sys
import urllib.parse
import warnings

import yaml
from jsonschema import Draft202012Validator
# RefResolver: what Debian 12's jsonschema 4.10 has (newer ones deprecate it).
warnings.filterwarnings("ignore", category=DeprecationWarning)
from jsonschema.validators import RefResolver  # noqa: E402

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def walk_refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v)
            else:
                walk_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, out)


def resolve(spec, ref):
    if not ref.startswith("#/"):
        return None
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_routes(spec, source):
    errors = []
    text = open(source, encoding="utf-8").read()
    table = text[text.index("pb_api_routes[] = {"):]
    table = table[:table.index("};")]
    routes = set()
    for method, pattern in re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)"', table):
        routes.add((method.lower(), pattern))
    documented = set()
    for path, item in spec.get("paths", {}).items():
        for m in METHODS:
            if m in item:
                documented.add((m, re.sub(r"\{[^}]+\}", "{}", path)))
    for r in sorted(routes - documented):
        errors.append("route %s %s is not in the document" % (r[0].upper(), r[1]))
    for r in sorted(documented - routes):
        errors.append("documented %s %s is not a route" % (r[0].upper(), r[1]))
    refs = []
    walk_refs(spec, refs)
    for ref in sorted(set(refs)):
        if resolve(spec, ref) is None:
            errors.append("$ref %s does not resolve" % ref)
    print("routes: %d served, %d documented, %d $refs" % (len(routes), len(documented),
                                                          len(set(refs))))
    return errors


def find_operation(spec, method, path):
    """Literal paths first, as the API routes them."""
    paths = spec["paths"]
    if path in paths and method in paths[path]:
        return path, paths[path][method]
    if path in paths:
        return path, None
    for tmpl, item in paths.items():
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "/?$"
        if re.match(rx, path):
            return tmpl, item.get(method)
    return None, None


def check_responses(spec, folder):
    errors = []
    resolver = RefResolver.from_schema(spec)
    n = 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".meta"):
            continue
        meta = open(os.path.join(folder, name), encoding="utf-8").read().split()
        method, url, status = meta[0].lower(), meta[1], meta[2]
        ctype = meta[3].split(";")[0] if len(meta) > 3 else ""
        body_path = os.path.join(folder, name[:-5] + ".body")
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        what = "%s %s -> %s" % (method.upper(), url[:80], status)
        if method == "head":
            method = "get"
        tmpl, op = find_operation(spec, method, path)
        n += 1
        if op is None:
            # Unknown paths and methods answer with the generic error.
            if status in ("404", "405", "400", "414") and ctype == "application/json":
                schema = {"$ref": "#/components/schemas/Error"}
            else:
                errors.append("%s: no documented operation" % what)
                continue
        else:
            resp = op.get("responses", {}).get(status)
            if resp is None:
                errors.append("%s: status %s not documented for %s" % (what, status, tmpl))
                continue
            if "$ref" in resp:
                resp = resolve(spec, resp["$ref"])
            content = resp.get("content", {})
            if ctype not in content:
                errors.append("%s: content type '%s' not documented (%s)" %
                              (what, ctype, ", ".join(content)))
                continue
            schema = content[ctype].get("schema", {})
        if ctype != "application/json" or meta[0] == "HEAD":
            continue
        try:
            body = json.load(open(body_path, encoding="utf-8"))
        except ValueError as e:
            errors.append("%s: body is not JSON: %s" % (what, e))
            continue
        v = Draft202012Validator(schema, resolver=resolver)
        for err in sorted(v.iter_errors(body), key=lambda e: list(e.path)):
            errors.append("%s: %s at /%s" % (what, err.message[:300],
                                             "/".join(str(p) for p in err.path)))
    print("responses: %d checked" % n)
    if n == 0:
        errors.append("no response recorded in %s" % folder)
    return errors


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("--routes", "--responses"):
        print(__doc__, file=sys.stderr)
        return 2
    spec = load(sys.argv[1])
    if sys.argv[2] == "--routes":
        errors = check_routes(spec, sys.argv[3])
    else:
        errors = check_responses(spec, sys.argv[3])
    for e in errors:
        print("MISMATCH: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

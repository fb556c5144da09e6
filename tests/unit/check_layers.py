#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Layering of the tunnel (issue 8): no circle between its modules.

A module is X.c with X.h. "X.c (or X.h) includes Y.h" makes X depend on the
modules whose functions Y.h declares (Y itself, or, for a header such as the
old engine_int.h that declares the functions of several files, each of
them). Among the engine and tunnel modules (engine*, tunnel*, fwd_*,
peer_link*, pubstate) that graph must be acyclic; a tunnel file must not
include engine.h or engine_int.h, and the engine may include of the tunnel
only tunnel.h. Exit 1 naming what is wrong.

Usage: check_layers.py [SERVER_DIR]   (default: server/ of the source tree)
"""
import os
import re
import sys

ENGINE = ("engine",)
TUNNEL = ("tunnel", "fwd_", "peer_link")


# The link layer (peer_link.c, _io, _rx, _tls and their private
# peer_link_int.h) is one module below the tunnel: its files share one
# internal face by design.
GROUPS = ("peer_link",)


def module(name):
    for g in GROUPS:
        if name.startswith(g):
            return g
    return name


def in_scope(mod):
    return mod.startswith(ENGINE + TUNNEL) or mod == "pubstate"


def is_tunnel(mod):
    return mod.startswith(TUNNEL)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def main():
    if len(sys.argv) > 1:
        sdir = sys.argv[1]
    else:
        top = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(__file__), "..", "..")
        sdir = os.path.join(top, "server")
    files = sorted(f for f in os.listdir(sdir) if f.endswith((".c", ".h")))
    text = {}
    for f in files:
        with open(os.path.join(sdir, f), encoding="utf-8", errors="replace") as fh:
            text[f] = fh.read()

    # Functions defined in each .c (the house style puts the name at the
    # start of its line, the return type on the line above).
    defined = {}
    for f in files:
        if f.endswith(".c"):
            for name in re.findall(r"^([A-Za-z_]\w*)\(", text[f], flags=re.M):
                defined.setdefault(name, set()).add(module(f[:-2]))
            # Tables such as "const struct pb_link_ops tunnel_link_ops = {".
            for name in re.findall(r"^(?:const\s+)?(?:struct\s+)?\w+\s+\**(\w+)\s*(?:\[[^\]]*\])?\s*=",
                                   text[f], flags=re.M):
                defined.setdefault(name, set()).add(module(f[:-2]))

    # Modules a header stands for: whoever defines what it declares, and
    # its own module when it has a .c. A header without one (engine_int.h,
    # tunnel_int.h) is no module: including it depends on what it declares.
    cfiles = {module(f[:-2]) for f in files if f.endswith(".c")}
    owners = {}
    for f in files:
        if not f.endswith(".h"):
            continue
        own = {module(f[:-2])} & cfiles
        body = strip_comments(text[f])
        names = set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", body))
        names |= set(re.findall(r"\bextern\b[^;(]*?\b(\w+)\s*(?:\[[^\]]*\])?\s*;", body))
        for name in names:
            own |= defined.get(name, set())
        owners[f] = own

    def includes(f):
        return [os.path.basename(i) for i in
                re.findall(r'^\s*#\s*include\s+"([^"]+)"', text.get(f, ""), flags=re.M)]

    # Headers without a .c are transparent: what they include counts as
    # included by whoever includes them.
    def expand(f, seen):
        for inc in includes(f):
            if inc in seen:
                continue
            seen.add(inc)
            if inc.endswith(".h") and module(inc[:-2]) not in cfiles and inc in text:
                expand(inc, seen)
        return seen

    errors = []
    edges = {}
    for f in files:
        mod = module(f[:-2])
        for inc in includes(f):
            imod = module(inc[:-2] if inc.endswith(".h") else inc)
            if is_tunnel(mod) and imod in ("engine", "engine_int"):
                errors.append("%s includes %s: the tunnel reaches the engine only through "
                              "the callbacks of struct pb_tunnel_env" % (f, inc))
            if mod.startswith(ENGINE) and is_tunnel(imod) and imod != "tunnel":
                errors.append("%s includes %s: the engine reaches the tunnel only through "
                              "tunnel.h" % (f, inc))
        if not in_scope(mod) or mod not in cfiles:
            continue
        direct = includes(f)
        for inc in sorted(expand(f, set())):
            how = "%s includes %s%s" % (f, inc, "" if inc in direct else " (through a header)")
            for dep in owners.get(inc, set()):
                if dep != mod and in_scope(dep):
                    edges.setdefault(mod, {}).setdefault(dep, how)

    # Strongly connected components (Tarjan): each one of more than one
    # module is a circle; name its members and one path around it.
    index, low, onstack, stack, sccs = {}, {}, set(), [], []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        onstack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in onstack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                onstack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    nodes = sorted(set(edges) | {d for m in edges for d in edges[m]})
    for v in nodes:
        if v not in index:
            strong(v)
    for comp in sccs:
        # One cycle through the component's first module, by breadth-first search.
        start = comp[0]
        prev = {start: None}
        queue = [start]
        cycle = None
        while queue and cycle is None:
            v = queue.pop(0)
            for w in sorted(edges.get(v, {})):
                if w not in comp:
                    continue
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    cycle = list(reversed(path)) + [start]
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        why = "; ".join(edges[a][b] for a, b in zip(cycle, cycle[1:]))
        errors.append("include circle among %s: %s (%s)" % (", ".join(comp),
                      " -> ".join(cycle), why))

    nmods = len({m for m in edges} | {d for m in edges for d in edges[m]})
    if errors:
        for e in errors:
            print("check_layers: " + e)
        return 1
    print("check_layers: %d engine and tunnel modules, %d dependencies, no circle" %
          (nmods, sum(len(v) for v in edges.values())))
    # The layers, lowest first: each module depends only on earlier ones.
    done, order = set(), []
    while len(done) < len(nodes):
        level = sorted(m for m in nodes if m not in done and set(edges.get(m, {})) <= done)
        order.append(" ".join(level))
        done |= set(level)
    print("check_layers: layers, lowest first: " + " | ".join(order))
    return 0


if __name__ == "__main__":
    sys.exit(main())

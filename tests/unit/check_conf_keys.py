#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every configuration key is shown in the example and the reference.

docs/configuration.md calls server/packetbrokerd.conf "a commented example
with every key". The keys are those of the parsers' key lists (the
`static const char *const ...[] = { "key", ... }` arrays of
server/config*.c, which pb_cfg_check_keys uses to refuse unknown keys).
Each must appear as a word in the example (set or in a comment) and, in
backquotes, in docs/configuration.md. Exit 1 naming the missing ones.

Usage: check_conf_keys.py [SOURCE_DIR]   (default: the source tree)
"""
import glob
import os
import re
import sys

# Strings in those arrays that are not keys (a type-name table).
NOT_KEYS = {"nothing"}


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "top_srcdir", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    keys = set()
    for path in sorted(glob.glob(os.path.join(top, "server", "config*.c"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for m in re.finditer(r'static const char \*const \w+\[\]\s*=\s*\{(.*?)\};', text, re.S):
            keys.update(re.findall(r'"([a-z][a-z0-9_]*)"', m.group(1)))
    keys -= NOT_KEYS
    if len(keys) < 50:
        print("check_conf_keys: only %d keys found: the parsers' key lists moved?" % len(keys))
        return 1
    with open(os.path.join(top, "server", "packetbrokerd.conf"), encoding="utf-8") as f:
        example = f.read()
    with open(os.path.join(top, "docs", "configuration.md"), encoding="utf-8") as f:
        docs = f.read()
    errors = []
    for k in sorted(keys):
        if not re.search(r'\b%s\b' % re.escape(k), example):
            errors.append("%s: not in server/packetbrokerd.conf" % k)
        if "`%s`" % k not in docs and not re.search(r'`[a-z_.]*\b%s\b' % re.escape(k), docs):
            errors.append("%s: not in docs/configuration.md" % k)
    for e in errors:
        print("check_conf_keys: " + e)
    if errors:
        return 1
    print("check_conf_keys: %d keys, each in the example and the reference" % len(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())

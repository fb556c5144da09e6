#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# PACKETBROKER-MIB passes smilint at its strictest level (-l 6) with the
# base modules of mibs/base, and any output at all is a failure: smilint
# exits 0 even when it cannot find an imported module. net-snmp's parser
# loads it too, and the root OID is the one the agent serves.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools smilint snmptranslate
pb_setup
T=$PB_TMP
M=$top_srcdir/mibs

out=$(cd "$T" && SMIPATH="$M:$M/base" smilint -l 6 -s "$M/PACKETBROKER-MIB.txt" 2>&1) ||
    fail "smilint exited with $?: $out"
[ -z "$out" ] || fail "smilint -l 6 reports:
$out"
# The check itself: a module with a problem must not pass unnoticed.
sed 's/pbNodeId OBJECT-TYPE/pbNodeId OBJECT-TYPE -- /; s/SYNTAX      Unsigned32 (1..4294967295)$/SYNTAX      Unsigned32 (1..4294967295/' \
    "$M/PACKETBROKER-MIB.txt" >"$T/PACKETBROKER-MIB.txt"
bad=$(cd "$T" && SMIPATH="$T:$M/base" smilint -l 6 -s "$T/PACKETBROKER-MIB.txt" 2>&1 || true)
[ -n "$bad" ] || fail "smilint reported nothing for a broken copy of the MIB"

export SNMPCONFPATH=$T SNMP_PERSISTENT_DIR=$T/persist
mkdir -p "$T/persist/cert_indexes"
root=$(snmptranslate -M "$M:$M/base" -m PACKETBROKER-MIB -On PACKETBROKER-MIB::packetbrokerMIB 2>&1) ||
    fail "snmptranslate: $root"
[ "$root" = .1.3.6.1.4.1.32473.7152 ] || fail "packetbrokerMIB is $root"
grep -q "^#define PB_SNMP_ROOT 1, 3, 6, 1, 4, 1, 32473, 7152$" "$top_srcdir/mgmt/snmp_int.h" ||
    fail "PB_SNMP_ROOT in mgmt/snmp_int.h differs from the MIB's $root"
n=$(snmptranslate -M "$M:$M/base" -m PACKETBROKER-MIB -Tp PACKETBROKER-MIB::packetbrokerMIB 2>&1 |
    grep -c -- '-R--') || true
pb_log "snmptranslate: $n read-only objects under $root"
[ "$n" -ge 40 ] || fail "only $n read-only objects parsed by net-snmp"
pass

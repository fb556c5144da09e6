# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# SNMP helpers for test_snmp_*.sh; sourced after lib.sh and pb_setup.
#
# Every net-snmp tool runs inside the test's namespace, reads no
# /etc/snmp/snmp.conf (Debian's says "mibs :"), writes its persistent state
# under the temp dir and loads PACKETBROKER-MIB from the source tree with
# the base modules of mibs/base.

PB_ROOT_OID=.1.3.6.1.4.1.32473.7152
PB_MIBS="$top_srcdir/mibs:$top_srcdir/mibs/base"
mkdir -p "$PB_TMP/snmp-persist" "$PB_TMP/snmpconf"
export SNMP_PERSISTENT_DIR=$PB_TMP/snmp-persist SNMPCONFPATH=$PB_TMP/snmpconf

# pb_snmp NS TOOL ARGS...: a net-snmp tool with our MIB, SNMPv2c, 2 s timeout.
pb_snmp() {
	local ns=$1 tool=$2
	shift 2
	ip netns exec "$ns" "$tool" -M "$PB_MIBS" -m PACKETBROKER-MIB -v2c -t 2 -r 1 -OU "$@"
}

# pb_snmp_val NS AGENT COMMUNITY OBJECT: the value alone (strings unquoted).
pb_snmp_val() {
	local v
	v=$(pb_snmp "$1" snmpget -Oqv -c "$3" "$2" "$4") || fail "snmpget $4 from $2 failed"
	case "$v" in
	No\ Such*) fail "snmpget $4 from $2: $v" ;;
	esac
	v=${v#\"}
	printf '%s\n' "${v%\"}"
}

# pb_snmp_ordered FILE: the numeric OIDs (first field) of a walk strictly
# increase, as GETNEXT must return them.
pb_snmp_ordered() {
	local keys
	keys=$(awk '{ n = split(substr($1, 2), a, "."); k = "";
		for (i = 1; i <= n; i++) k = k sprintf("%011d.", a[i]); print k }' "$1")
	printf '%s\n' "$keys" | LC_ALL=C sort -c -u 2>/dev/null ||
	    fail "walk $1: OIDs out of order or repeated: $(printf '%s\n' "$keys" | LC_ALL=C sort -c -u 2>&1)"
}

# pb_snmptrapd NAME NS PORT: snmptrapd on udp:127.0.0.1:PORT, accepting any
# community, numeric OIDs, logging to $PB_TMP/NAME.traps.
pb_snmptrapd() {
	local name=$1 ns=$2 port=$3
	echo "disableAuthorization yes" >"$PB_TMP/$name.conf"
	pb_start "$name" "$ns" -- snmptrapd -f -C -c "$PB_TMP/$name.conf" -On -Lf \
	    "$PB_TMP/$name.traps" "udp:127.0.0.1:$port"
	PB_TRAPD=$PB_PID
	pb_wait_until 10 "snmptrapd on port $port" grep -q "NET-SNMP version" "$PB_TMP/$name.traps"
}

# pb_trap_count NAME NOTIFICATION_OID: notifications of that type received.
pb_trap_count() {
	grep -c -- "$2" "$PB_TMP/$1.traps" || true
}

# pb_rest_int NAME PATH PYEXPR: an integer of NAME's JSON at PATH, exactly
# (jq reads numbers as doubles: 64-bit epochs lose their last digits). The
# JSON is `d` in the Python expression, e.g. "d['streams'][0]['received']".
pb_rest_int() {
	local code
	code=$(pb_node_http "$1" "$2")
	[ "$code" = 200 ] || fail "$1: GET $2: HTTP $code"
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(int(eval(sys.argv[2])))' \
	    "$PB_TMP/http.body" "$3" || fail "$1: GET $2: no $3 in $(head -c 300 "$PB_TMP/http.body")"
}

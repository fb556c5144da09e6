#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The SNMP agent as an AgentX subagent of a real snmpd. The edge starts
# while nothing listens on the AgentX socket: it forwards its stream all the
# same. snmpd started afterwards (master agentx on a private socket) gets
# the subagent within seconds and serves PACKETBROKER-MIB with the REST
# API's values, in OID order; SET is refused; pbPeerDown travels through
# the master to snmptrapd. The master going away stalls nothing, and the
# subagent comes back to a restarted one.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq python3 snmpget snmpwalk snmpbulkwalk snmptable snmpset snmptrapd
[ -x /usr/sbin/snmpd ] || command -v snmpd >/dev/null 2>&1 || skip "'snmpd' not installed"
SNMPD=$(command -v snmpd || echo /usr/sbin/snmpd)
require_built
pb_setup
. "$top_srcdir/tests/integration/snmp_lib.sh"
T=$PB_TMP
N=2000
"$PBGEN" --count $N --size 300 --seed 5 -o "$T/in.pcap"

pb_netns agentx
NS=$PB_NS
pb_ports 5
TP=${PB_PORTS[0]} MA=127.0.0.1:${PB_PORTS[3]} TRAPS=${PB_PORTS[4]}
C=nms-$$
SOCK=$T/agentx/master
pb_node_conf col 62 "${PB_PORTS[1]}" "$NS" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf edge 61 "${PB_PORTS[2]}" "$NS" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = "max"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
snmp = { agentx = "$SOCK"; agentx_retry = 1; agentx_timeout = 1; };
CONF

# ---- no master: forwarding is unaffected ----
pb_node col
t0=$(date +%s%N)
pb_node edge
pb_wait_until 10 "the collector to write $N records without an AgentX master" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets == $N"
pb_log "no master: $N records forwarded and written in $((($(date +%s%N) - t0) / 1000000)) ms"
pb_node_grep edge "AgentX master not reachable" || fail "the edge did not report the missing master"
[ "$(grep -c "AgentX master not reachable" "$(pb_node_log edge)")" = 1 ] ||
    fail "the missing master was reported more than once"

# ---- snmpd appears ----
mkdir -p "$T/agentx"
cat >"$T/snmpd.conf" <<CONF
agentaddress udp:$MA
master agentx
agentXSocket unix:$SOCK
agentXPerms 0600 0700
rocommunity $C 127.0.0.1
trap2sink 127.0.0.1:$TRAPS $C
CONF
pb_snmptrapd trapd "$NS" "$TRAPS"
start_snmpd() {
	pb_start "snmpd$1" "$NS" -- "$SNMPD" -f -Lo -C -c "$T/snmpd.conf" -p "$T/snmpd.pid" -I -smux
	SNMPD_PID=$PB_PID
}
connected() { [ "$(grep -c "AgentX subagent connected" "$(pb_node_log edge)")" -ge "$1" ]; }
start_snmpd 1
pb_wait_until 10 "the subagent to connect to snmpd" connected 1
pb_wait_until 10 "the subagent's objects in snmpd" pb_snmp "$NS" snmpget -c "$C" "$MA" pbNodeId.0
pb_wait_until 10 "the edge's records to be acknowledged" \
    pb_node_true edge /api/v1/peers ".peers[0].records_acked == $N"
pb_settle edge

[ "$(pb_snmp_val "$NS" "$MA" "$C" pbNodeId.0)" = 61 ] || fail "pbNodeId through snmpd"
[ "$(pb_snmp_val "$NS" "$MA" "$C" pbNodeName.0)" = edge ] || fail "pbNodeName through snmpd"
epoch=$(pb_rest_int edge /api/v1/status "d['epoch']")
[ "$(pb_snmp_val "$NS" "$MA" "$C" pbEpoch.0)" = "$epoch" ] || fail "pbEpoch through snmpd"
for pair in "pbRecordsCaptured:sum(s['packets'] for s in d['sources'])" \
    "pbRecordsForwarded:sum(p.get('records_acked', 0) for p in d['peers'])"; do
	case "${pair%%:*}" in pbRecordsCaptured) path=/api/v1/sources ;; *) path=/api/v1/peers ;; esac
	rest=$(pb_rest_int edge "$path" "${pair#*:}")
	snmp=$(pb_snmp_val "$NS" "$MA" "$C" "${pair%%:*}.0")
	[ "$snmp" = "$rest" ] || fail "${pair%%:*} through snmpd: $snmp, REST $rest"
done
pb_snmp "$NS" snmptable -Cf '|' -c "$C" "$MA" pbPeerTable >"$T/peers.table" || fail "snmptable pbPeerTable"
row=$(grep '^col|' "$T/peers.table") || fail "no row for peer col: $(cat "$T/peers.table")"
IFS='|' read -r _ dir _ state nid _ sent _ acked _ <<<"$row"
[ "$dir/$state/$nid/$sent/$acked" = "downstream/up/62/$(pb_peer edge col records_sent)/$N" ] ||
    fail "peer col through snmpd: $row"

# GETNEXT and GETBULK across the master and the subagent, in order.
pb_snmp "$NS" snmpwalk -On -c "$C" "$MA" "$PB_ROOT_OID" >"$T/walk" || fail "snmpwalk through snmpd"
pb_snmp "$NS" snmpbulkwalk -On -c "$C" "$MA" "$PB_ROOT_OID" >"$T/bulk" || fail "snmpbulkwalk through snmpd"
pb_snmp_ordered "$T/walk"
diff <(awk '{print $1}' "$T/walk") <(awk '{print $1}' "$T/bulk") >/dev/null ||
    fail "GETNEXT and GETBULK walks through snmpd differ"
[ "$(wc -l <"$T/walk")" = $((6 + 8 + 9 + 18)) ] || fail "walk through snmpd: $(wc -l <"$T/walk") instances"
pb_snmp "$NS" snmpset -c "$C" "$MA" pbNodeName.0 s evil >"$T/set.out" 2>&1 &&
    fail "SET accepted through snmpd: $(cat "$T/set.out")"
grep -Eq 'notWritable|noAccess' "$T/set.out" || fail "SET through snmpd: $(cat "$T/set.out")"

# ---- a notification through the master ----
pb_node_kill col KILL
pb_node_wait_exit col 5
pb_wait_until 10 "pbPeerDown through snmpd" grep -q "$PB_ROOT_OID.0.1" "$T/trapd.traps"
grep -A6 "$PB_ROOT_OID.0.1" "$T/trapd.traps" | grep -q '"col"' ||
    fail "pbPeerDown does not name peer col: $(tail -20 "$T/trapd.traps")"

# ---- the master goes away and comes back ----
pb_stop "$SNMPD_PID" 10
t0=$(date +%s%N)
pb_node_up edge || fail "the edge's API does not answer with snmpd gone"
ms=$((($(date +%s%N) - t0) / 1000000))
pb_log "snmpd stopped: the edge's API answered in $ms ms"
[ "$ms" -lt 1000 ] || fail "the edge's API took $ms ms with snmpd gone"
start_snmpd 2
pb_wait_until 15 "the subagent to reconnect to a restarted snmpd" connected 2
pb_wait_until 10 "the subagent's objects in the restarted snmpd" \
    pb_snmp "$NS" snmpget -c "$C" "$MA" pbNodeId.0

t0=$(date +%s%N)
pb_node_stop edge 10
pb_node_exit_ok edge "edge after SIGTERM"
pb_log "edge stopped in $((($(date +%s%N) - t0) / 1000000)) ms"
pb_no_crash edge col
pass

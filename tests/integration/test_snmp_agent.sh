#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The embedded SNMP master agent (PACKETBROKER-MIB) on an edge and its
# collector: snmpget/snmpwalk/snmptable equal the REST API once the stream
# is over; the whole subtree walks in increasing OID order, by GETNEXT and
# by GETBULK alike; a wrong community gets no answer and SET is refused; the
# collector dying makes the edge send pbPeerDown, its return pbPeerUp, to
# an snmptrapd started here. A third node whose peer never answers spills
# its stream into its DLQ: the DLQ objects equal /dlq, and pbDlqThreshold
# comes once.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq snmpget snmpwalk snmpbulkwalk snmptable snmpset snmptrapd
require_built
pb_setup
. "$top_srcdir/tests/integration/snmp_lib.sh"
T=$PB_TMP
N=3000
"$PBGEN" --count $N --size 200 --seed 4 -o "$T/in.pcap"

pb_netns snmp
NS=$PB_NS
pb_ports 9
TP=${PB_PORTS[0]} EA=127.0.0.1:${PB_PORTS[3]} CA=127.0.0.1:${PB_PORTS[4]} TRAPS=${PB_PORTS[5]}
SA=127.0.0.1:${PB_PORTS[7]} DEAD=${PB_PORTS[8]}
C=nms-$$
pb_node_conf col 52 "${PB_PORTS[1]}" "$NS" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
snmp = { listen = "udp:$CA"; community = "$C"; trap_sinks = ( "127.0.0.1:$TRAPS" ); };
CONF
pb_node_conf edge 51 "${PB_PORTS[2]}" "$NS" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = "max"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
snmp = { listen = "udp:$EA"; community = "$C"; trap_sinks = ( "127.0.0.1:$TRAPS" ); };
CONF

pb_node_conf spill 54 "${PB_PORTS[6]}" "$NS" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = "max"; } );
peers = ( { name = "nobody"; address = "127.0.0.1"; port = $DEAD; } );
resend = { timeout = 0.5; };
dlq = { path = "dlq.db"; };
snmp = { listen = "udp:$SA"; community = "$C"; trap_sinks = ( "127.0.0.1:$TRAPS" );
         dlq_threshold = 1000; };
CONF

pb_snmptrapd trapd "$NS" "$TRAPS"
pb_node spill
pb_node col
pb_node edge
pb_wait_until 20 "the collector to write $N records" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets == $N"
pb_wait_until 10 "the edge's $N records to be acknowledged" \
    pb_node_true edge /api/v1/peers ".peers[0].records_acked == $N"
pb_settle edge
pb_settle col

# ---- the node and totals equal the REST API ----
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbNodeId.0)" = 51 ] || fail "edge pbNodeId"
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbNodeName.0)" = edge ] || fail "edge pbNodeName"
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbVersion.0)" = "$(pb_node_json edge /api/v1/status .version)" ] ||
    fail "edge pbVersion"
epoch=$(pb_rest_int edge /api/v1/status "d['epoch']")
[ "$(pb_snmp "$NS" snmpget -Oqv -c "$C" "$EA" pbEpoch.0)" = "$epoch" ] ||
    fail "edge pbEpoch is not the REST epoch $epoch (DISPLAY-HINT 8d)"
for pair in "pbRecordsCaptured:[.sources[].packets] | add" \
    "pbCaptureDrops:[.sources[] | .pcap_drops + .pcap_ifdrops] | add"; do
	rest=$(pb_node_json edge /api/v1/sources "${pair#*:}")
	snmp=$(pb_snmp_val "$NS" "$EA" "$C" "${pair%%:*}.0")
	[ "$snmp" = "$rest" ] || fail "edge ${pair%%:*} $snmp, REST $rest"
done
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbRecordsCaptured.0)" = $N ] || fail "edge pbRecordsCaptured"
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbRecordsForwarded.0)" = \
    "$(pb_node_json edge /api/v1/peers '[.peers[] | select(.direction == "downstream") | .records_acked] | add')" ] ||
    fail "edge pbRecordsForwarded"
[ "$(pb_snmp_val "$NS" "$CA" "$C" pbRecordsDelivered.0)" = "$(pb_sink_packets col)" ] ||
    fail "collector pbRecordsDelivered"

# ---- tables ----
pb_snmp "$NS" snmptable -Cf '|' -c "$C" "$EA" pbPeerTable >"$T/peers.table" || fail "snmptable pbPeerTable"
pb_log "edge pbPeerTable row: $(sed -n 4p "$T/peers.table" | cut -c1-200)"
row=$(grep '^col|' "$T/peers.table") || fail "no row for peer col: $(cat "$T/peers.table")"
IFS='|' read -r name dir addr state nid nname sent bsent acked _ <<<"$row"
[ "$dir/$state/$nid/$nname" = "downstream/up/52/col" ] ||
    fail "peer col: direction/state/node $dir/$state/$nid/$nname"
[ "$addr" = "$(pb_peer edge col address)" ] || fail "peer col: address $addr"
[ "$sent" = "$(pb_peer edge col records_sent)" ] || fail "peer col: records sent $sent"
[ "$bsent" = "$(pb_peer edge col bytes_sent)" ] || fail "peer col: bytes sent $bsent"
[ "$acked" = "$(pb_peer edge col records_acked)" ] || fail "peer col: records acked $acked"
pb_snmp "$NS" snmptable -Cf '|' -c "$C" "$EA" pbSourceTable >"$T/sources.table" || fail "snmptable pbSourceTable"
bytes=$(pb_node_json edge /api/v1/sources '.sources[0].bytes')
grep -q "^in|file|finished|$N|$bytes|0|0|0|0\$" "$T/sources.table" ||
    fail "pbSourceTable: $(cat "$T/sources.table")"
# The collector's gap table: one origin stream, indexed by node, source, epoch.
pb_snmp "$NS" snmptable -Ci -Cf '|' -c "$C" "$CA" pbGapTable >"$T/gaps.table" || fail "snmptable pbGapTable"
pb_log "collector pbGapTable: $(sed -n 3,4p "$T/gaps.table" | tr '\n' ' ')"
src=$(pb_node_json col /api/v1/gaps '.streams[0].origin.source')
received=$(pb_node_json col /api/v1/gaps '.streams[0].received')
[ "$received" = $N ] || fail "REST gaps: received $received"
pb_snmp "$NS" snmpwalk -On -c "$C" "$CA" pbGapReceived >"$T/gap.walk" || fail "walk pbGapReceived"
read -r goid _ gval <<<"$(head -1 "$T/gap.walk")"
gval=${gval#Counter64: }
idx=${goid#"$PB_ROOT_OID".1.5.1.8.}
# node.source.e1...e8: the epoch's bytes, big endian (bash integers are
# signed 64-bit: epochs are below 2^63).
IFS=. read -r gnode gsrc b1 b2 b3 b4 b5 b6 b7 b8 <<<"$idx"
gepoch=0
for b in $b1 $b2 $b3 $b4 $b5 $b6 $b7 $b8; do gepoch=$((gepoch * 256 + b)); done
cepoch=$(pb_rest_int col /api/v1/gaps "d['streams'][0]['origin']['epoch']")
[ "$gnode.$gsrc" = "51.$src" ] || fail "gap row index $idx: node.source $gnode.$gsrc, expected 51.$src"
[ "$gepoch" = "$cepoch" ] || fail "gap row index $idx: epoch $gepoch, REST $cepoch"
[ "$gepoch" = "$epoch" ] || fail "gap row epoch $gepoch is not the edge's $epoch"
[ "$gval" = "$received" ] || fail "pbGapReceived $gval, REST $received"
[ "$(pb_snmp_val "$NS" "$CA" "$C" "pbGapMissing.$idx")" = "$(pb_node_json col /api/v1/gaps '.streams[0].missing_total')" ] ||
    fail "pbGapMissing"
[ "$(pb_snmp_val "$NS" "$CA" "$C" "pbGapOriginName.$idx")" = edge ] || fail "pbGapOriginName"

# ---- GETNEXT order over the whole subtree, GETBULK the same ----
pb_snmp "$NS" snmpwalk -On -c "$C" "$EA" "$PB_ROOT_OID" >"$T/edge.walk" || fail "snmpwalk edge"
pb_snmp "$NS" snmpbulkwalk -On -c "$C" "$EA" "$PB_ROOT_OID" >"$T/edge.bulk" || fail "snmpbulkwalk edge"
pb_snmp "$NS" snmpwalk -On -c "$C" "$CA" "$PB_ROOT_OID" >"$T/col.walk" || fail "snmpwalk collector"
# The walk ends at the end of the agent's MIB view (nothing follows ours).
for f in edge.walk edge.bulk col.walk; do
	grep -v 'No more variables left in this MIB View' "$T/$f" >"$T/$f.tmp" && mv "$T/$f.tmp" "$T/$f"
done
pb_snmp_ordered "$T/edge.walk"
pb_snmp_ordered "$T/col.walk"
diff <(awk '{print $1}' "$T/edge.walk") <(awk '{print $1}' "$T/edge.bulk") >/dev/null ||
    fail "GETNEXT and GETBULK walks list different OIDs"
nwalk=$(wc -l <"$T/edge.walk")
# 6 node + 8 totals scalars, 9 source columns, 18 peer columns.
[ "$nwalk" = $((6 + 8 + 9 + 18)) ] || fail "edge walk: $nwalk instances"
pb_log "walks: edge $nwalk, collector $(wc -l <"$T/col.walk") instances, in order"

# ---- access ----
if pb_snmp "$NS" snmpget -t 1 -r 0 -c "wrong-$C" "$EA" pbNodeId.0 >"$T/wrong.out" 2>&1; then
	fail "a wrong community got an answer: $(cat "$T/wrong.out")"
fi
grep -q Timeout "$T/wrong.out" || fail "wrong community: $(cat "$T/wrong.out")"
pb_snmp "$NS" snmpset -c "$C" "$EA" pbNodeName.0 s evil >"$T/set.out" 2>&1 &&
    fail "SET accepted: $(cat "$T/set.out")"
grep -q notWritable "$T/set.out" || fail "SET: $(cat "$T/set.out")"
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbNodeName.0)" = edge ] || fail "pbNodeName changed"
if pb_snmp "$NS" snmpget -v1 -c "$C" "$EA" pbRecordsCaptured.0 >"$T/v1.out" 2>&1 ||
    ! grep -q "noSuchName\|There is no such variable" "$T/v1.out"; then
	fail "SNMPv1 got a Counter64: $(cat "$T/v1.out")"
fi

# ---- notifications ----
# The link came up after the agent started: one pbPeerUp already.
[ "$(pb_trap_count trapd "$PB_ROOT_OID.0.1")" = 0 ] || fail "pbPeerDown before any peer went down"
# Both nodes send to this trapd: the collector's own pbPeerUp (peer "edge")
# must not pass for the edge's (peer "col"). A trap is one line.
pb_col_ups() { grep -- "$PB_ROOT_OID.0.2" "$T/trapd.traps" | grep -c '"col"' || true; }
ups=$(pb_col_ups)
pb_node_kill col KILL
pb_node_wait_exit col 5
pb_wait_until 10 "pbPeerDown from the edge" grep -q "$PB_ROOT_OID.0.1" "$T/trapd.traps"
grep -A6 "$PB_ROOT_OID.0.1" "$T/trapd.traps" | grep -q '"col"' ||
    fail "pbPeerDown does not name peer col: $(tail -20 "$T/trapd.traps")"
state=$(pb_snmp_val "$NS" "$EA" "$C" pbPeerState.1)
case "$state" in down | connecting) ;; *) fail "pbPeerState.1 is '$state' after the kill" ;; esac
pb_node col
pb_trap_more() { [ "$(pb_col_ups)" -gt "$ups" ]; }
pb_wait_until 10 "pbPeerUp from the edge" pb_trap_more
[ "$(pb_trap_count trapd "$PB_ROOT_OID.0.1")" = 1 ] || fail "more than one pbPeerDown"
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbPeerState.1)" = up ] || fail "pbPeerState.1 not up again"
[ "$(pb_snmp_val "$NS" "$EA" "$C" pbPeerLastChange.1)" != 0 ] || fail "pbPeerLastChange not set"
pb_log "traps: $(grep -c "$PB_ROOT_OID.0" "$T/trapd.traps") received"

# ---- a gap: node 77 (tests/tools/pbwire.py) sends origin seqs 1, 2, 5 ----
GAPPY_TP=$TP ip netns exec "$NS" python3 - "$top_srcdir/tests/tools" >"$T/gappy.log" 2>&1 <<'PY' ||
import os, sys, time
sys.path.insert(0, sys.argv[1])
import pbwire
l = pbwire.Link.connect("127.0.0.1", int(os.environ["GAPPY_TP"]))
info = l.handshake(node_id=77, epoch=5, role="send")
l.send_node(77, "gappy")
l.send_source(77, 0, 1, "wire")
for i, seq in enumerate((1, 2, 5)):
    l.send_record(info.resume_seq + 1 + i, 77, 0, 1, 5, seq, time.time_ns(), pbwire.simple_frame(seq))
acks = 0
deadline = time.time() + 5
while acks < info.resume_seq + 3 and time.time() < deadline:
    m = l.recv_msg(timeout=1)
    if m is not None and m.type == pbwire.ACK:
        acks = m.link_seq
print("acked up to", acks)
l.close()
PY
    fail "pbwire sender: $(cat "$T/gappy.log")"
pb_wait_until 5 "pbGapDetected from the collector" grep -q "$PB_ROOT_OID.0.3" "$T/trapd.traps"
gidx=77.0.0.0.0.0.0.0.0.5
grep -A6 "$PB_ROOT_OID.0.3" "$T/trapd.traps" | grep -q "$PB_ROOT_OID.1.5.1.5.$gidx = Counter64: 2" ||
    fail "pbGapDetected does not carry pbGapMissing.$gidx = 2: $(tail -12 "$T/trapd.traps")"
pb_settle col
[ "$(pb_snmp_val "$NS" "$CA" "$C" "pbGapMissing.$gidx")" = \
    "$(pb_rest_int col /api/v1/gaps "next(s['missing_total'] for s in d['streams'] if s['origin']['node'] == 77)")" ] ||
    fail "pbGapMissing of node 77's stream differs from REST"
[ "$(pb_snmp_val "$NS" "$CA" "$C" "pbGapRanges.$gidx")" = 1 ] || fail "pbGapRanges of node 77's stream"

# ---- the DLQ ----
pb_wait_until 15 "the spill node's $N records in its DLQ" \
    pb_node_true spill /api/v1/dlq ".stats.queued == 0 and .stats.rows == $N"
for pair in "pbDlqDepth:d['stats']['rows']" "pbDlqBytes:d['stats']['bytes']" \
    "pbDlqRefusals:d['stats']['refused_full'] + d['stats']['refused_queue']"; do
	rest=$(pb_rest_int spill /api/v1/dlq "${pair#*:}")
	snmp=$(pb_snmp_val "$NS" "$SA" "$C" "${pair%%:*}.0")
	[ "$snmp" = "$rest" ] || fail "spill ${pair%%:*} $snmp, REST $rest"
done
[ "$(pb_snmp_val "$NS" "$SA" "$C" pbPeerMovedToDlq.1)" = "$(pb_peer spill nobody to_dlq)" ] ||
    fail "spill pbPeerMovedToDlq"
[ "$(pb_snmp_val "$NS" "$SA" "$C" pbDlqDepthThreshold.0)" = 1000 ] || fail "pbDlqDepthThreshold"
pb_wait_until 5 "pbDlqThreshold from the spill node" grep -q "$PB_ROOT_OID.0.4" "$T/trapd.traps"
sleep 0.5
[ "$(pb_trap_count trapd "$PB_ROOT_OID.0.4")" = 1 ] || fail "pbDlqThreshold more than once"
grep -A4 "$PB_ROOT_OID.0.4" "$T/trapd.traps" | grep -q "$PB_ROOT_OID.1.2.5.0 = Counter64: [0-9]" ||
    fail "pbDlqThreshold without pbDlqDepth: $(tail -8 "$T/trapd.traps")"

# An address the agent cannot have stops the start, naming it.
cat >"$T/busy.conf" <<CONF
node = { id = 53; };
captures = ( { name = "in"; file = "$T/in.pcap"; } );
dump = { file = "$T/busy-%s.pcap"; };
api = { enabled = false; };
snmp = { listen = "udp:$EA"; community = "$C"; };
CONF
rc=0
ip netns exec "$NS" "$PBD" -c "$T/busy.conf" >"$T/busy.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a daemon whose SNMP address is taken exited with $rc: $(tail -3 "$T/busy.log")"
grep -q "cannot start: snmp: cannot listen on udp:$EA" "$T/busy.log" ||
    fail "no error naming the SNMP address: $(tail -3 "$T/busy.log")"

pb_node_stop edge
pb_node_exit_ok edge "edge after SIGTERM"
pb_node_stop col
pb_node_exit_ok col "collector after SIGTERM"
pb_node_stop spill
pb_node_exit_ok spill "spill node after SIGTERM"
pb_no_crash edge col spill
pass

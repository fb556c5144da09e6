#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Reverse direction on 127.0.0.1: the collector (node 100) dials the edge
# (node 1) to receive from it (`upstreams` on the collector, `listen` +
# `consumers` on the edge). The same custody as the usual direction:
#  (a) the edge starts first and captures its whole file while no consumer
#      is connected: the declared consumer's records wait in the resend
#      buffer; then the collector dials in and the output is the input
#      exactly (count, multiset, order per origin); /peers on both sides
#      show the link (edge: 'central' up, acked N; collector: 'edge',
#      direction upstream, origin dial).
#  (b) kill -9 of the collector in the middle of a 1 M record stream, then a
#      restart: the collector recovers its custody point from its pcapng
#      and dials again, the edge resends what was not acknowledged: zero
#      lost, zero duplicated, in order.
#  (c) the consumer is away longer than resend.timeout, first before it
#      ever connected, then again after a SIGTERM: those records go to the
#      edge's DLQ; once the collector is back, POST /dlq/replay on the edge
#      delivers them: output = input exactly, DLQ empty, no gap.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq
require_built
pb_setup
T=$PB_TMP
EDGE_ID=1
COL_ID=100

# rev_confs TAG EDGE_CAPTURE EDGE_EXTRA: configurations of edgeTAG and colTAG
# on fresh ports; the edge listens on $TP.
rev_confs() {
	local tag=$1 capture=$2 extra=$3
	pb_ports 3
	TP=${PB_PORTS[0]}
	pb_node_conf "edge$tag" $EDGE_ID "${PB_PORTS[1]}" <<CONF
captures = ( $capture );
listen = { address = "127.0.0.1"; port = $TP; };
consumers = ( { name = "central"; node = $COL_ID; } );
$extra
CONF
	pb_node_conf "col$tag" $COL_ID "${PB_PORTS[2]}" <<CONF
upstreams = ( { name = "edge"; address = "127.0.0.1"; port = $TP; } );
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
}

# stop_ok NAME: SIGTERM, exit status 0.
stop_ok() {
	pb_node_stop "$1" 20
	pb_node_exit_ok "$1" "SIGTERM"
}

# ---- (a) records captured before the consumer first connects ----
NA=100000
"$PBGEN" --count $NA --sizes 64,128,512 --seed 21 -o "$T/a.pcap"
rev_confs a "{ name = \"in\"; file = \"$T/a.pcap\"; }" \
    'resend = { timeout = 60; buffer_mb = 128; };'
pb_node edgea
pb_wait_until 15 "edge a's source to finish" \
    pb_source_is "${PB_NODE_API[edgea]}" in state finished
pb_settle edgea
pb_log "(a) edge before the consumer: $(pb_node_json edgea /api/v1/peers/central -c \
    '{state, direction, origin, node, in_flight, records_sent, to_dlq}')"
st=$(pb_peer edgea central state)
[ "$st" != up ] || fail "(a) edge: consumer 'central' up before the collector ran"
[ "$(pb_peer edgea central node.id)" = $COL_ID ] || fail "(a) edge: /peers/central node.id is not $COL_ID"
[ "$(pb_peer edgea central in_flight)" = $NA ] ||
    fail "(a) edge: $(pb_peer edgea central in_flight) record(s) kept for 'central', expected $NA"
[ "$(pb_peer edgea central to_dlq)" = 0 ] || fail "(a) edge: records went to the DLQ"

pb_node cola
pb_wait_until 20 "edge a to have every record acknowledged" \
    pb_node_true edgea /api/v1/peers/central ".state == \"up\" and .records_acked == $NA and .in_flight == 0"
pb_settle edgea
pb_settle cola
pb_log "(a) edge /peers/central: $(pb_node_json edgea /api/v1/peers/central -c \
    '{state, direction, origin, address, node, records_sent, records_acked, resent, to_dlq}')"
pb_log "(a) collector /peers/edge: $(pb_node_json cola /api/v1/peers/edge -c \
    '{state, direction, origin, address, node, records_received, link_duplicates, link_lost}')"
[ "$(pb_peer edgea central direction)" = downstream ] || fail "(a) edge: 'central' is not downstream"
[ "$(pb_peer edgea central origin)" = accept ] || fail "(a) edge: 'central' origin is not accept"
[ "$(pb_peer edgea central records_acked)" = $NA ] || fail "(a) edge: records_acked != $NA"
[ "$(pb_peer edgea central to_dlq)" = 0 ] || fail "(a) edge: records went to the DLQ"
# Declared consumers are matched by node id, not added a second time.
[ "$(pb_node_json edgea /api/v1/peers '[.peers[] | select(.direction == "downstream")] | length')" = 1 ] ||
    fail "(a) edge: more than one downstream peer: $(pb_node_json edgea /api/v1/peers -c '[.peers[].name]')"
[ "$(pb_peer cola edge direction)" = upstream ] || fail "(a) collector: 'edge' is not an upstream"
[ "$(pb_peer cola edge origin)" = dial ] || fail "(a) collector: 'edge' origin is not dial"
[ "$(pb_peer cola edge state)" = up ] || fail "(a) collector: 'edge' is not up"
[ "$(pb_peer cola edge node.id)" = $EDGE_ID ] || fail "(a) collector: 'edge' node.id is not $EDGE_ID"
[ "$(pb_peer cola edge records_received)" = $NA ] || fail "(a) collector: records_received != $NA"
stop_ok cola
stop_ok edgea
mapfile -t outs < <(pb_outputs_ng "$T/cola/out")
total=$(pb_count "${outs[@]}")
[ "$total" = $NA ] || fail "(a) output has $total frames, expected $NA"
pb_cmp --ts --multiset "$T/a.pcap" "${outs[@]}"
pb_cmp --ts --origin $EDGE_ID "$T/a.pcap" "${outs[@]}"
pb_log "(a) passed: $NA records kept before the first connection, delivered in order"

# ---- (b) kill -9 of the collector in the middle of 1 M records ----
NB=1000000
"$PBGEN" --count $NB --size 64 --seed 22 -o "$T/b.pcap"
# 150 kpps: the stream lasts ~7 s.
rev_confs b "{ name = \"in\"; file = \"$T/b.pcap\"; rate = 150000; }" \
    'resend = { timeout = 60; buffer_mb = 512; };'
pb_node edgeb
pb_node colb
pb_wait_until 15 "collector b to write 250000 frames" \
    pb_node_true colb /api/v1/sinks '.sinks[0].packets >= 250000'
pb_node_kill colb KILL
pb_node_wait_exit colb 5
acked=$(pb_peer edgeb central records_acked)
pb_log "(b) collector killed: edge had $acked record(s) acknowledged"
[ "$acked" -lt $NB ] || fail "(b) the stream was over before the kill"
sleep 1
pb_node colb
pb_wait_until 30 "edge b's source to finish" \
    pb_source_is "${PB_NODE_API[edgeb]}" in state finished
pb_wait_until 20 "edge b to have every record acknowledged" \
    pb_node_true edgeb /api/v1/peers/central ".state == \"up\" and .in_flight == 0"
pb_settle edgeb
pb_settle colb
pb_log "(b) edge /peers/central: $(pb_node_json edgeb /api/v1/peers/central -c \
    '{state, reconnects, records_sent, records_acked, resent, to_dlq}')"
pb_log "(b) restarted collector: $(pb_node_json colb /api/v1/peers/edge -c \
    '{state, origin, records_received, link_duplicates, origin_duplicates, link_lost, custody_seq}')"
[ "$(pb_peer edgeb central to_dlq)" = 0 ] || fail "(b) edge: records went to the DLQ"
lost=$(pb_peers_sum colb link_lost)
[ "$lost" = 0 ] || fail "(b) restarted collector: link_lost $lost"
missing=$(pb_gaps colb missing_total)
[ "$missing" = 0 ] || fail "(b) restarted collector: /gaps missing_total $missing"
ups=$(grep -c "peer 'central' up" "$(pb_node_log edgeb)" || true)
[ "$ups" -ge 2 ] || fail "(b) the consumer came up $ups time(s) at the edge, expected a reconnect"
stop_ok colb
stop_ok edgeb
mapfile -t outs < <(pb_outputs_ng "$T/colb/out")
total=$(pb_count "${outs[@]}")
pb_log "(b) output: ${#outs[@]} file(s), $total frames"
[ "${#outs[@]}" -ge 2 ] || fail "(b) expected a second output file after the restart"
[ "$total" = $NB ] || fail "(b) output has $total frames, expected $NB ($((total - NB)) extra)"
pb_cmp --ts --multiset "$T/b.pcap" "${outs[@]}"
pb_cmp --ts --origin $EDGE_ID "$T/b.pcap" "${outs[@]}"
pb_log "(b) passed: zero lost, zero duplicated across kill -9"

# ---- (c) consumer away longer than resend.timeout: DLQ, then replay ----
NC=60000
"$PBGEN" --count $NC --sizes 64,256 --seed 23 -o "$T/c.pcap"
# 10 kpps: the stream lasts 6 s. Not connected for the first 2.5 s, then
# connected, then stopped (SIGTERM) for 2.5 s: both outages exceed the 1 s
# timeout.
rev_confs c "{ name = \"in\"; file = \"$T/c.pcap\"; rate = 10000; }" \
    'resend = { timeout = 1.0; buffer_mb = 64; };
dlq = { path = "dlq.db"; max_mb = 64; auto_replay = false; };'
pb_node edgec
pb_wait_until 10 "records of the absent consumer in edge c's DLQ" \
    pb_node_true edgec /api/v1/dlq '.total > 0'
sleep 1.5
pb_log "(c) before the first connection: DLQ total $(pb_dlq edgec .total)"
pb_node colc
pb_wait_until 10 "collector c to write 5000 frames" \
    pb_node_true colc /api/v1/sinks '.sinks[0].packets >= 5000'
stop_ok colc
pb_log "(c) collector stopped at $(pb_peer edgec central records_acked) acknowledged"
sleep 2.5
pb_node colc
pb_wait_until 20 "edge c's source to finish" \
    pb_source_is "${PB_NODE_API[edgec]}" in state finished
pb_wait_until 20 "edge c's consumer to be up with nothing in flight" \
    pb_node_true edgec /api/v1/peers/central '.state == "up" and .in_flight == 0'
pb_settle edgec
pb_settle colc
pb_wait_until 30 "edge c's DLQ writer to commit what it accepted" pb_dlq_committed edgec
dlq_total=$(pb_dlq edgec .total)
to_dlq=$(pb_peer edgec central to_dlq)
written=$(pb_sink_packets colc)
pb_log "(c) edge: DLQ total $dlq_total, to_dlq $to_dlq; collector wrote $written (this run)"
pb_log "(c) edge DLQ reasons: $(pb_dlq edgec '[.rows[].reason] | unique | join(",")' "limit=1000")"
[ "$dlq_total" -gt 0 ] || fail "(c) edge: DLQ empty after the outages"
[ "$to_dlq" = "$dlq_total" ] || fail "(c) edge: /peers to_dlq $to_dlq, DLQ holds $dlq_total"
missing=$(pb_gaps colc missing_total)
pb_log "(c) collector gaps before the replay: $(pb_node_json colc /api/v1/gaps -c .totals)"
[ "$missing" -gt 0 ] || fail "(c) collector: no gap visible before the replay"

id=$(pb_replay edgec '{"peer": "central"}')
pb_replay_wait edgec "$id" 30
pb_log "(c) replay job: $(jq -c . <<<"$PB_JOB")"
[ "$(jq -r .acked <<<"$PB_JOB")" = "$dlq_total" ] || fail "(c) replay job acked != $dlq_total"
pb_wait_until 10 "edge c's DLQ to be empty" pb_node_true edgec /api/v1/dlq '.total == 0'
pb_wait_until 10 "collector c to have no gap" pb_node_true colc /api/v1/gaps '.totals.missing_total == 0'
pb_settle colc
pb_log "(c) collector gaps after the replay: $(pb_node_json colc /api/v1/gaps -c .totals)"
cdups=$(pb_gaps colc duplicates)
stop_ok colc
stop_ok edgec
mapfile -t outs < <(pb_outputs_ng "$T/colc/out")
total=$(pb_count "${outs[@]}")
pb_log "(c) output: ${#outs[@]} file(s), $total frames"
[ "$total" = $NC ] || fail "(c) output has $total frames, expected $NC; the restarted collector" \
    "dropped $cdups record(s) as origin duplicates (/gaps duplicates)"
pb_cmp --ts --multiset "$T/c.pcap" "${outs[@]}"

pb_no_crash edgea cola edgeb colb edgec colc
pass

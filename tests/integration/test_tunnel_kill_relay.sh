#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of the relay in edge → relay → collector in the middle of a 1 M
# packet stream (64-byte frames, ~7 s at 150 kpps), restarted with the same
# configuration. The relay acknowledges the edge only once the collector
# acknowledged it, so what it lost in the kill is still at the edge and is
# resent; records that reached the collector twice (through the old and
# the new relay epoch) are recognised by their origin sequence and dropped.
# The collector's output holds every input frame exactly once, in order.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq
require_built
pb_setup
T=$PB_TMP
N=1000000
"$PBGEN" --count $N --size 64 --seed 10 -o "$T/in.pcap"

pb_ports 5
P_R=${PB_PORTS[0]} P_C=${PB_PORTS[1]}
pb_node_conf col 63 "${PB_PORTS[2]}" <<CONF
listen = { address = "127.0.0.1"; port = $P_C; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf relay 62 "${PB_PORTS[3]}" <<CONF
listen = { address = "127.0.0.1"; port = $P_R; };
peers = ( { name = "col"; address = "127.0.0.1"; port = $P_C; } );
resend = { timeout = 60; buffer_mb = 512; };
dlq = { path = "dlq.db"; };
CONF
pb_node_conf edge 61 "${PB_PORTS[4]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 150000; } );
peers = ( { name = "relay"; address = "127.0.0.1"; port = $P_R; } );
resend = { timeout = 60; buffer_mb = 512; };
CONF

pb_node col
pb_node relay
pb_node edge -x
pb_wait_until 15 "the collector to write 250000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 250000'
pb_node_kill relay KILL
pb_node_wait_exit relay 5
acked=$(pb_peer edge relay records_acked)
written=$(pb_sink_packets col)
pb_log "relay killed: edge had $acked record(s) acknowledged, the collector had written $written"
[ "$written" -lt $N ] || fail "the stream was over before the kill"
sleep 1
pb_node relay

pb_node_wait_exit edge 40
pb_node_exit_ok edge "edge (--exit-on-finish)"
grep "peer 'relay' up" "$(pb_node_log edge)" | while read -r l; do pb_log "edge: $l"; done
ups=$(grep -c "peer 'relay' up" "$(pb_node_log edge)" || true)
[ "$ups" -ge 2 ] || fail "the edge's link to the relay came up $ups time(s), expected a reconnect"
pb_wait_until 10 "the collector to write $N frames" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets >= $N"
sleep 0.5 # anything extra (a duplicate) would arrive now
pb_settle col
pb_log "collector peers: $(pb_node_json col /api/v1/peers -c '[.peers[] | {name, state, records_received, link_duplicates, origin_duplicates, link_lost}]')"
pb_log "collector gaps: $(pb_node_json col /api/v1/gaps -c .totals)"
missing=$(pb_gaps col missing_total)
[ "$missing" = 0 ] || fail "collector: /gaps missing_total $missing"
lost=$(pb_peers_sum col link_lost)
[ "$lost" = 0 ] || fail "collector: link_lost $lost"
pb_wait_until 30 "the relay's DLQ writer to commit what it accepted" pb_dlq_committed relay
rows=$(pb_dlq relay .total)
[ "$rows" = 0 ] || fail "relay: $rows record(s) in its DLQ"
for n in relay col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done

mapfile -t outs < <(pb_outputs_ng "$T/col/out")
total=$(pb_count "${outs[@]}")
pb_log "output: ${#outs[@]} file(s), $total frames"
[ "$total" = $N ] || fail "output has $total frames, expected $N ($((total - N)) extra)"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
pb_cmp --ts --origin 61 "$T/in.pcap" "${outs[@]}"
pb_no_crash col relay edge
pass

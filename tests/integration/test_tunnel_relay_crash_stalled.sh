#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of a relay that has received far more than its collector took:
# the collector is stopped (SIGSTOP) while the edge streams, so the relay
# holds records it has seen but that are not in custody anywhere yet. The
# relay's saved gap state must not call those records "seen" after its
# restart, or the edge's resend of them would be dropped as duplicates and
# lost. The collector's output holds every input frame exactly once.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq
require_built
pb_setup
T=$PB_TMP
N=200000
"$PBGEN" --count $N --size 64 --seed 21 -o "$T/in.pcap"

pb_ports 5
P_R=${PB_PORTS[0]} P_C=${PB_PORTS[1]}
pb_node_conf col 73 "${PB_PORTS[2]}" <<CONF
listen = { address = "127.0.0.1"; port = $P_C; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
heartbeat = { interval = 1; dead_after = 30; };
CONF
pb_node_conf relay 72 "${PB_PORTS[3]}" <<CONF
listen = { address = "127.0.0.1"; port = $P_R; };
peers = ( { name = "col"; address = "127.0.0.1"; port = $P_C; } );
# A window wide enough for the 60000 records (~7 MB) the relay must take in
# while the collector is stopped: the default 8 MiB would pause it first.
resend = { timeout = 60; buffer_mb = 512; window_mb = 256; };
heartbeat = { interval = 1; dead_after = 30; };
CONF
pb_node_conf edge 71 "${PB_PORTS[4]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 50000; } );
peers = ( { name = "relay"; address = "127.0.0.1"; port = $P_R; } );
resend = { timeout = 60; buffer_mb = 512; window_mb = 256; };
CONF

pb_node col
pb_node relay
pb_node edge -x
pb_wait_until 15 "the collector to write 20000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 20000'
kill -STOP "${PB_NODE_PID[col]}"
pb_wait_until 15 "the relay to receive 60000 more records than the collector took" \
    pb_node_true relay /api/v1/peers '[.peers[] | select(.direction == "upstream") | .records_received] | add >= 80000'
sleep 0.6 # the relay saves its gap state every 250 ms
pb_node_kill relay KILL
pb_node_wait_exit relay 5
pb_log "relay killed with the collector stopped: edge had $(pb_peer edge relay records_acked) record(s) acknowledged"
kill -CONT "${PB_NODE_PID[col]}"
pb_node relay

pb_node_wait_exit edge 60
pb_node_exit_ok edge "edge (--exit-on-finish)"
pb_wait_until 15 "the collector to write $N frames" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets >= $N"
sleep 0.5
pb_settle col
pb_log "relay peers: $(pb_node_json relay /api/v1/peers -c '[.peers[] | {name, records_received, origin_duplicates}]')"
for n in relay col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done
mapfile -t outs < <(pb_outputs_ng "$T/col/out")
total=$(pb_count "${outs[@]}")
pb_log "output: $total frames"
[ "$total" = $N ] || fail "output has $total frames, expected $N"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
pb_no_crash col relay edge
pass

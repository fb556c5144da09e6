#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A tier of two collectors in front of a 3-node NATS cluster (R3 stream):
# the edge has one peer entry with both collectors' addresses. Mid-run the
# collector in use is killed with SIGKILL: the edge fails over to the
# other one, which resumes from what the stream holds (the old collector's
# unacknowledged records are resent; nothing it acknowledged is). Later a
# nats-server is killed with SIGKILL and restarted. The stream ends up with
# every record exactly once (audited by another client), and reading it
# back gives the input as a multiset and in per-origin order.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_tools curl jq
require_built
js_require
pb_setup
T=$PB_TMP
N=${PB_FAILOVER_FRAMES:-500000}
"$PBGEN" --count "$N" --size 64 --seed 41 -o "$T/in.pcap"

pb_ports 12
js_cluster3
URLS=$JS_URLS
PA=${PB_PORTS[6]} PB=${PB_PORTS[7]}
for c in a b; do
	port=$PA id=82 api=${PB_PORTS[8]}
	[ $c = a ] || { port=$PB id=84 api=${PB_PORTS[9]}; }
	pb_node_conf "col$c" $id "$api" <<CONF
listen = { address = "127.0.0.1"; port = $port; };
dump = { name = "js"; jetstream = { servers = [ $URLS ]; stream = "PBF"; replicas = 3; }; };
CONF
done
pb_node_conf edge 81 "${PB_PORTS[10]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 40000; } );
peers = ( { name = "tier"; addresses = [ "127.0.0.1:$PA", "127.0.0.1:$PB" ]; } );
resend = { timeout = 120; buffer_mb = 256; };
CONF
pb_node_conf reader 83 "${PB_PORTS[11]}" <<CONF
captures = ( { name = "back"; jetstream = { servers = [ $URLS ]; stream = "PBF"; }; } );
dump = { file = "out/r.pcapng"; };
CONF

pb_node cola
pb_node colb
# The R3 stream needs a meta leader first: the sinks retry until then.
for c in cola colb; do
	pb_wait_until 60 "$c's jetstream sink to have its R3 stream" \
	    pb_node_true $c /api/v1/sinks/js '.jetstream.state == "connected"'
done
pb_node edge -x
pb_wait_until 60 "collector a (the first address) to store 100000 records" \
    pb_node_true cola /api/v1/sinks/js '.jetstream.records >= 100000'
pb_node_true edge /api/v1/peers/tier ".address == \"127.0.0.1:$PA\" and .failovers == 0" ||
    fail "the edge is not on collector a: $(pb_node_json edge /api/v1/peers/tier -c .)"
# What a acknowledged, read before the kill: read after it, the count may
# already hold b's first acknowledgements (the edge fails over within
# ~100 ms and b acknowledges thousands of records in the next 100 ms).
acked=$(pb_peer edge tier records_acked)
pb_node_kill cola KILL
pb_node_wait_exit cola 5
pb_log "collector a killed; the edge had at least $acked record(s) acknowledged by it"
[ "$acked" -lt "$N" ] || fail "the stream was over before the kill"

pb_wait_until 60 "the edge to fail over to collector b" pb_node_true edge /api/v1/peers/tier \
    ".state == \"up\" and .failovers >= 1 and .address == \"127.0.0.1:$PB\""
pb_wait_until 60 "collector b to store 50000 records" \
    pb_node_true colb /api/v1/sinks/js '.jetstream.records >= 50000'
pb_log "edge after the failover: $(pb_node_json edge /api/v1/peers/tier -c .)"
js_kill_in_use colb

js_edge_done colb 240
# What collector a acknowledged was announced to b as released, not sent
# again and not counted as the edge's DLQ.
pb_settle colb
up=$(pb_node_json colb /api/v1/peers -c '[.peers[] | select(.node.id == 81)][0]')
pb_log "collector b's upstream: $up"
[ "$(jq -r .acked_elsewhere <<<"$up")" -ge "$acked" ] ||
    fail "collector b was told of fewer released records than a acknowledged ($acked)"
[ "$(jq -r .dlq_announced <<<"$up")" = 0 ] || fail "records announced as DLQ'd: $up"
pb_node_stop colb
pb_node_exit_ok colb SIGTERM

js_verify_stream PBF "$N" 180
pb_no_crash cola colb edge reader
pass

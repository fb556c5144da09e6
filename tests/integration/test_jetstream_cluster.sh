#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A 3-node NATS cluster, stream with 3 replicas. An edge streams frames to
# a collector with a jetstream sink. Mid-run the collector is killed with
# SIGKILL and restarted with its state directory wiped (the resume point
# must come from the stream alone); later the nats-server the collector
# uses is killed with SIGKILL and restarted. The stream ends up with every
# record exactly once (audited by another client), and reading it back
# gives the input in order.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_tools curl jq
require_built
js_require
pb_setup
T=$PB_TMP
N=300000
"$PBGEN" --count $N --size 64 --seed 33 -o "$T/in.pcap"

pb_ports 10
js_cluster3
URLS=$JS_URLS
TP=${PB_PORTS[6]}
pb_node_conf col 82 "${PB_PORTS[7]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { name = "js"; jetstream = { servers = [ $URLS ]; stream = "PBC"; replicas = 3; }; };
CONF
pb_node_conf edge 81 "${PB_PORTS[8]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 30000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 120; buffer_mb = 256; };
CONF
pb_node_conf reader 83 "${PB_PORTS[9]}" <<CONF
captures = ( { name = "back"; jetstream = { servers = [ $URLS ]; stream = "PBC"; }; } );
dump = { file = "out/r.pcapng"; };
CONF

pb_node col
# The R3 stream needs a meta leader first: the sink retries until then.
pb_wait_until 60 "the jetstream sink to have its R3 stream" \
    pb_node_true col /api/v1/sinks/js '.jetstream.state == "connected"'
pb_node edge -x
pb_wait_until 60 "the collector to store 60000 records" \
    pb_node_true col /api/v1/sinks/js '.jetstream.records >= 60000'
pb_node_kill col KILL
pb_node_wait_exit col 5
acked=$(pb_peer edge col records_acked)
pb_log "collector killed; the edge had $acked record(s) acknowledged"
[ "$acked" -lt $N ] || fail "the stream was over before the kill"
rm -rf "$T/col/state"
pb_node col
pb_wait_until 60 "the restarted collector to store 30000 records" \
    pb_node_true col /api/v1/sinks/js '.jetstream.records >= 30000'
pb_log "restarted collector: $(pb_node_json col /api/v1/sinks/js -c .jetstream)"
js_kill_in_use col

js_edge_done col 180
pb_node_stop col
pb_node_exit_ok col SIGTERM

js_verify_stream PBC $N
pb_no_crash col edge reader
pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Late records into a jetstream sink. An edge streams frames to a
# collector with a jetstream sink (edge resend.timeout 2 s, a DLQ without
# auto replay). Mid-run the nats-server is stopped (SIGSTOP) for 20 s:
# the sink's window fills, the collector stops taking records, and the
# edge moves what stays unacknowledged to its DLQ while later records
# follow once the server is back: the DLQ's records are holes below each
# origin stream's highest stored record. The collector is then killed
# with SIGKILL and restarted with its state directory wiped, so it learns
# the holes only from the stream (Pb-High, Pb-Holes of the last message).
# The DLQ replay fills them: the stream holds every record exactly once
# (audited by another client, per origin seq), the restarted sink counts
# late records, and reading the stream back gives the input as a multiset
# (the replayed records come after later ones, so order is not compared).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_tools curl jq
require_built
js_require
pb_setup
T=$PB_TMP
N=200000
"$PBGEN" --count $N --sizes 64,128,512 --seed 44 -o "$T/in.pcap"

pb_ports 5
js_conf nats "${PB_PORTS[0]}"
js_start nats
URL=$(js_url nats)
TP=${PB_PORTS[1]}
pb_node_conf col 92 "${PB_PORTS[2]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { name = "js"; jetstream = { servers = [ "$URL" ]; stream = "PBD"; batch_kb = 64;
                                    window = 16; }; };
CONF
# 5 kpps: the stream lasts 40 s and goes on well after the 20 s outage.
pb_node_conf edge 91 "${PB_PORTS[3]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 5000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 2.0; buffer_mb = 64; };
dlq = { path = "dlq.db"; max_mb = 256; auto_replay = false; };
CONF
pb_node_conf reader 93 "${PB_PORTS[4]}" <<CONF
captures = ( { name = "back"; jetstream = { servers = [ "$URL" ]; stream = "PBD"; }; } );
dump = { file = "out/r.pcapng"; };
CONF

pb_node col
pb_wait_until 20 "the jetstream sink to connect" \
    pb_node_true col /api/v1/sinks/js '.jetstream.state == "connected"'
pb_node edge
pb_wait_until 30 "the collector to store 15000 records" \
    pb_node_true col /api/v1/sinks/js '.jetstream.records >= 15000'
t_stop=$(date +%s)
kill -STOP "${JS_PIDS[nats]}"
pb_log "nats-server stopped"
pb_wait_until 20 "records moved to the edge's DLQ" pb_node_true edge /api/v1/peers/col '.to_dlq > 0'
# The outage lasts 20 s in all, well past resend.timeout.
rest=$((20 - ($(date +%s) - t_stop)))
[ "$rest" -le 0 ] || sleep "$rest"
kill -CONT "${JS_PIDS[nats]}"
before=$(pb_node_json col /api/v1/sinks/js .jetstream.records)
pb_log "nats-server continued; collector stored $before, edge to_dlq $(pb_peer edge col to_dlq)"
# Later records stored above the DLQ's: the holes exist in the stream.
pb_wait_until 60 "the collector to store 20000 records after the outage" \
    pb_node_true col /api/v1/sinks/js ".jetstream.records >= $before + 20000"
pb_log "collector sink before the kill: $(pb_node_json col /api/v1/sinks/js -c .jetstream)"
pb_node_kill col KILL
pb_node_wait_exit col 5
rm -rf "$T/col/state"
pb_node col
pb_wait_until 20 "the restarted sink to connect" \
    pb_node_true col /api/v1/sinks/js '.jetstream.state == "connected"'
pb_wait_until 60 "the edge's source to finish" pb_source_is "${PB_NODE_API[edge]}" in state finished
pb_wait_until 60 "the edge's peer to be up with nothing in flight" \
    pb_node_true edge /api/v1/peers/col '.state == "up" and .in_flight == 0'
pb_wait_until 60 "the edge's DLQ writer to commit what it accepted" pb_dlq_committed edge
dlq_total=$(pb_dlq edge .total)
pb_log "edge: DLQ total $dlq_total, to_dlq $(pb_peer edge col to_dlq), dlq_refused $(pb_peer edge col dlq_refused)"
[ "$dlq_total" -gt 0 ] || fail "edge: DLQ empty after the outage"
[ "$(pb_peer edge col dlq_refused)" = 0 ] || fail "edge: the DLQ refused records"

id=$(pb_replay edge '{"peer": "col"}')
pb_replay_wait edge "$id" 60
pb_log "replay job: $(jq -c . <<<"$PB_JOB")"
for f in fetched sent acked; do
	v=$(jq -r ".$f" <<<"$PB_JOB")
	[ "$v" = "$dlq_total" ] || fail "replay job: $f = $v, expected $dlq_total"
done
pb_wait_until 20 "the edge's DLQ to be empty" pb_node_true edge /api/v1/dlq '.total == 0'
pb_wait_until 20 "the sink to have nothing pending" \
    pb_node_true col /api/v1/sinks/js '.jetstream.pending_acks == 0 and .jetstream.buffered == 0'
js=$(pb_node_json col /api/v1/sinks/js -c .jetstream)
pb_log "restarted collector's sink: $js"
# Its state was wiped: records stored below the high went into holes it
# read from the stream.
late=$(jq -r .late <<<"$js")
[ "$late" -gt 0 ] || fail "the restarted sink stored no late record: $js"
[ "$(jq -r .holes_forgotten <<<"$js")" = 0 ] || fail "holes forgotten: $js"
for n in edge col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" SIGTERM
done

js_check "$URL" PBD pb
[ "$(js_field records)" = $N ] || fail "the stream holds $(js_field records) records, expected $N"
PBNATS_LIST=1 "$PBNATS" "$URL" check PBD pb 2>/dev/null | grep -c 'holes=[0-9]' >"$T/holey" || true
pb_log "messages stored with holes below them: $(cat "$T/holey")"
[ "$(cat "$T/holey")" -gt 0 ] || fail "no message of the stream has Pb-Holes"

js_read_back $N
pb_no_crash col edge reader
pass

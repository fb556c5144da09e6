#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of an edge whose DLQ holds records. The collector is down from
# the start, so after resend.timeout (1 s) every record of the edge's file
# goes to its DLQ; once GET /dlq counts them all (committed: nothing
# queued), the edge is killed with SIGKILL. The DLQ survives: sqlite3 finds
# the same rows in dlq.db, and the database is intact. The edge restarts
# (a new epoch) with an empty capture file, so the original records exist
# only in the DLQ; the collector starts; POST /dlq/replay delivers them,
# and the collector ends up with exactly the records that were in the DLQ,
# each once, with their original origin epoch and sequence (no gap).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq sqlite3
require_built
pb_setup
T=$PB_TMP
N=20000
"$PBGEN" --count $N --sizes 64,256,1000 --seed 13 -o "$T/in.pcap"
"$PBGEN" --count 0 -o "$T/empty.pcap"

pb_ports 3
TP=${PB_PORTS[0]}
pb_node_conf col 82 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
edge_conf() {
	pb_node_conf edge 81 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$1"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 1.0; buffer_mb = 64; };
dlq = { path = "dlq.db"; max_mb = 256; };
CONF
}

edge_conf "$T/in.pcap"
pb_node edge
pb_wait_until 20 "all $N records in the edge's DLQ, committed" \
    pb_node_true edge /api/v1/dlq ".total == $N and .stats.queued == 0"
D=$(pb_dlq edge .total)
pb_log "edge DLQ: $D rows; stats $(pb_dlq edge -c .stats)"
pb_log "edge /peers/col: $(pb_node_json edge /api/v1/peers/col -c '{state, to_dlq, dlq_refused, in_flight, reconnects, last_error}')"
to_dlq=$(pb_peer edge col to_dlq)
[ "$to_dlq" = "$D" ] || fail "edge: /peers/col to_dlq $to_dlq, DLQ total $D"
reasons=$(pb_dlq edge '[.rows[].reason] | unique | join(",")' "limit=1000")
pb_log "edge DLQ reasons: $reasons"

pb_node_kill edge KILL
pb_node_wait_exit edge 5
rows=$(sqlite3 "$T/edge/dlq.db" 'select count(*) from dlq' 2>&1) || fail "sqlite3 after the kill: $rows"
integrity=$(sqlite3 "$T/edge/dlq.db" 'pragma integrity_check' 2>&1)
pb_log "after kill -9: sqlite3 counts $rows row(s) in dlq.db; integrity_check: $integrity"
[ "$rows" = "$D" ] || fail "dlq.db holds $rows rows after the kill, GET /dlq said $D"
[ "$integrity" = ok ] || fail "dlq.db integrity_check: $integrity"
# The rows belong to the killed edge's epoch, for peer col.
E1=$(sed -n 's/.*node 81 (edge) running: .* epoch \([0-9]*\)$/\1/p' "$(pb_node_log edge)")
[ -n "$E1" ] || fail "no epoch in the edge's start line"
epochs=$(sqlite3 "$T/edge/dlq.db" 'select count(distinct origin_epoch) || " " || min(origin_epoch) || " " || min(origin_seq) || " " || max(origin_seq) || " " || group_concat(distinct peer) from dlq')
pb_log "dlq.db: distinct epochs, epoch, min seq, max seq, peers: $epochs"
[ "$epochs" = "1 $E1 1 $N col" ] || fail "dlq.db rows: '$epochs', expected '1 $E1 1 $N col'"

edge_conf "$T/empty.pcap"
pb_node edge
E2=$(sed -n 's/.*node 81 (edge) running: .* epoch \([0-9]*\)$/\1/p' "$(pb_node_log edge)")
pb_log "edge restarted: epoch $E1 → $E2"
[ -n "$E2" ] && [ "$E2" != "$E1" ] || fail "the restarted edge kept epoch $E1"
[ "$(pb_dlq edge .total)" = "$D" ] || fail "restarted edge: GET /dlq total $(pb_dlq edge .total), expected $D"
pb_node col
pb_wait_until 15 "the edge's link to the collector" pb_node_true edge /api/v1/peers/col '.state == "up"'
# Nothing replays by itself (auto_replay is off).
sleep 0.5
[ "$(pb_sink_packets col)" = 0 ] || fail "the collector got records before the replay"

id=$(pb_replay edge '{"peer": "col"}')
pb_replay_wait edge "$id" 30
pb_log "replay job: $(jq -c . <<<"$PB_JOB")"
for f in fetched sent acked deleted; do
	v=$(jq -r ".$f" <<<"$PB_JOB")
	[ "$v" = "$D" ] || fail "replay job: $f = $v, expected $D"
done
# The job counts a row deleted once its delete is queued to the DLQ's
# writer: the commit may trail "done" a little.
rows=$(pb_dlq edge .total)
[ "$rows" = 0 ] || pb_log "note: $rows row(s) still in the DLQ when the job said done"
pb_wait_until 10 "the edge's DLQ to be empty" pb_node_true edge /api/v1/dlq '.total == 0'
pb_wait_until 10 "the collector to write $D frames" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets >= $D"
pb_settle col
pb_log "collector gaps: $(pb_node_json col /api/v1/gaps -c .)"
missing=$(pb_gaps col missing_total)
dups=$(pb_gaps col duplicates)
[ "$missing" = 0 ] || fail "collector: /gaps missing_total $missing"
[ "$dups" = 0 ] || fail "collector: /gaps duplicates $dups"
for n in edge col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done

mapfile -t outs < <(pb_outputs_ng "$T/col/out")
total=$(pb_count "${outs[@]}")
pb_log "collector output: $total frames (DLQ held $D)"
[ "$total" = "$D" ] || fail "collector wrote $total frames, the DLQ held $D"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
# A replay is allowed to reorder; report whether this one did.
if "$PBCMP" --origin 81 "$T/in.pcap" "${outs[@]}" >"$T/order.txt" 2>&1; then
	pb_log "replayed records arrived in their original order"
else
	pb_log "note: replayed records not in their original order: $(cat "$T/order.txt")"
fi
pb_no_crash edge col
pass

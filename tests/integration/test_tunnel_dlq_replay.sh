#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# DLQ and replay on 127.0.0.1. The edge streams a file to the collector
# (resend.timeout 2 s, dead after 1 s); the collector is SIGSTOPped for ~4 s,
# so the edge declares the link dead and moves the unacknowledged records
# to its SQLite DLQ after 2 s (/peers to_dlq > 0, then GET /dlq total once
# the DLQ's writer committed them).
# After SIGCONT the stream goes on; the records in the DLQ are now a hole
# in the collector's origin sequence (/gaps missing_total > 0 once later
# records arrived). POST /dlq/replay sends them again: the job ends "done",
# the DLQ is empty, /gaps shows nothing missing and the output holds every
# input frame exactly once.
#
# Order: the replayed records arrive after later ones, so only the
# multiset of the output is compared with the input (with timestamps);
# the collector's gaps tracker vouches for the rest: nothing missing,
# every hole filled by the replay.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq sqlite3
require_built
pb_setup
T=$PB_TMP
N=120000
"$PBGEN" --count $N --sizes 64,128,512 --seed 12 -o "$T/in.pcap"

pb_ports 3
TP=${PB_PORTS[0]}
pb_node_conf col 72 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
# 15 kpps: the stream lasts 8 s and goes on after the outage (about 4 s
# from the stop), so that later records make the DLQ's rows a hole.
pb_node_conf edge 71 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 15000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 2.0; buffer_mb = 64; };
dlq = { path = "dlq.db"; max_mb = 256; auto_replay = false; };
CONF

pb_node col
pb_node edge
pb_wait_until 10 "the collector to write 15000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 15000'
pb_node_kill col STOP
t0=$(date +%s.%N)
pb_log "collector stopped"
# Accepted by the DLQ (to_dlq), not committed (GET /dlq total): a slow
# writer must not stretch the outage past the end of the stream.
pb_wait_until 10 "records moved to the edge's DLQ" pb_node_true edge /api/v1/peers/col '.to_dlq > 0'
sleep 2 # let the outage last (well past resend.timeout)
pb_log "edge source at the end of the outage: $(pb_node_json edge /api/v1/sources/in -c '{state, packets}')"
pb_node_kill col CONT
pb_log "collector continued after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
pb_wait_until 20 "the edge's source to finish" \
    pb_source_is "${PB_NODE_API[edge]}" in state finished
pb_wait_until 20 "the edge's peer to be up with nothing in flight" \
    pb_node_true edge /api/v1/peers/col '.state == "up" and .in_flight == 0'

pb_settle edge
pb_settle col
# GET /dlq .total counts committed rows, and the DLQ writer commits on its
# own thread: a slow one (ASan, a busy machine) still had tens of thousands
# of accepted puts queued here. Count only once it caught up.
pb_log "edge DLQ before the writer caught up: $(pb_dlq edge -c '{total, rows: .stats.rows, queued: .stats.queued}')"
pb_wait_until 60 "the edge's DLQ writer to commit what it accepted" pb_dlq_committed edge
dlq_total=$(pb_dlq edge .total)
to_dlq=$(pb_peer edge col to_dlq)
dlq_refused=$(pb_peer edge col dlq_refused)
acked=$(pb_peer edge col records_acked)
reconnects=$(pb_peer edge col reconnects)
pb_log "edge: DLQ total $dlq_total, to_dlq $to_dlq, dlq_refused $dlq_refused, records_acked $acked, reconnects $reconnects"
pb_log "edge DLQ stats: $(pb_dlq edge -c .stats)"
[ "$dlq_total" -gt 0 ] || fail "edge: DLQ empty after the outage"
[ "$to_dlq" -gt 0 ] || fail "edge: /peers/col to_dlq = $to_dlq"
[ "$dlq_refused" = 0 ] || fail "edge: the DLQ refused $dlq_refused record(s)"
# Every record the peer moved is a committed row, none failed on the way.
[ "$(pb_dlq edge .stats.errors)" = 0 ] || fail "edge: DLQ errors: $(pb_dlq edge -c .stats)"
[ "$dlq_total" = "$to_dlq" ] || fail "edge: to_dlq $to_dlq, yet the DLQ holds $dlq_total row(s)"
reasons=$(pb_dlq edge '[.rows[].reason] | unique | join(",")' "limit=1000")
pb_log "edge DLQ reasons: $reasons"
written=$(pb_sink_packets col)
pb_log "collector wrote $written of $N before the replay"
# Nothing lost already now: written + DLQ covers the input. It may exceed
# it: records the stopped collector still had in its socket buffer were
# moved to the DLQ by the edge, yet may be written once it continues; the
# replay then brings them again and the collector drops them as origin
# duplicates.
overlap=$((written + dlq_total - N))
[ "$overlap" -ge 0 ] ||
    fail "collector wrote $written, DLQ holds $dlq_total: $((-overlap)) record(s) neither written nor in the DLQ"
pb_log "written + DLQ - input = $overlap record(s) both written and in the DLQ"

# The hole in the collector's origin sequence: the DLQ rows minus those
# the collector wrote anyway, minus those past the last record it got (a
# second outage near the end of the stream leaves a tail, not a gap).
pb_log "collector gaps before the replay: $(pb_node_json col /api/v1/gaps -c '.totals')"
missing=$(pb_gaps col missing_total)
next=$(pb_node_json col /api/v1/gaps '.streams[0].expected_next')
past=$(sqlite3 "$T/edge/dlq.db" "select count(*) from dlq where origin_seq >= $next" 2>&1) ||
    fail "sqlite3: $past"
hole=$((dlq_total - overlap - past))
pb_log "collector: missing_total before the replay: $missing (DLQ holds $dlq_total, $past of them from seq $next on)"
[ "$missing" = "$hole" ] ||
    fail "collector /gaps: missing_total $missing before the replay, expected $hole"
[ "$missing" -gt 0 ] || fail "collector /gaps: no gap visible before the replay"

id=$(pb_replay edge '{"peer": "col"}')
pb_log "replay job $id"
pb_replay_wait edge "$id" 30
pb_log "replay job: $(jq -c . <<<"$PB_JOB")"
for f in fetched sent acked deleted; do
	v=$(jq -r ".$f" <<<"$PB_JOB")
	[ "$v" = "$dlq_total" ] || fail "replay job: $f = $v, expected $dlq_total"
done
# The job counts a row deleted once its delete is queued to the DLQ's
# writer: the commit may trail "done" a little.
rows=$(pb_dlq edge .total)
[ "$rows" = 0 ] || pb_log "note: $rows row(s) still in the DLQ when the job said done"
pb_wait_until 10 "the edge's DLQ to be empty" pb_node_true edge /api/v1/dlq '.total == 0'
sqlrows=$(sqlite3 "$T/edge/dlq.db" 'select count(*) from dlq' 2>&1) || fail "sqlite3: $sqlrows"
[ "$sqlrows" = 0 ] || fail "edge: dlq.db still has $sqlrows row(s)"
pb_wait_until 10 "the collector to write $N frames" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets >= $N"
pb_settle col
pb_settle edge
pb_log "collector gaps after the replay: $(pb_node_json col /api/v1/gaps -c '.totals')"
missing=$(pb_gaps col missing_total)
dups=$(pb_gaps col duplicates)
filled=$(pb_gaps col filled)
[ "$missing" = 0 ] || fail "collector /gaps: missing_total $missing after the replay"
[ "$filled" = "$hole" ] || fail "collector /gaps: filled $filled, expected $hole"
pb_log "collector: missing 0, filled $filled, duplicates $dups"
replayed=$(pb_peer edge col replayed)
pb_log "edge /peers/col replayed: $replayed"

for n in edge col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done
mapfile -t outs < <(pb_outputs_ng "$T/col/out")
total=$(pb_count "${outs[@]}")
pb_log "output: ${#outs[@]} file(s), $total frames"
[ "$total" = $N ] || fail "output has $total frames, expected $N"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
pb_no_crash col edge
pass

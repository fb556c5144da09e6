#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A file replayed at full speed towards a dead collector, with a 1 MiB
# resend buffer: nearly every record overflows the buffer into the DLQ
# at once, far faster than SQLite commits (some 100 MB of queued puts
# against the DLQ's 64 MiB write queue). The file source must wait while
# the DLQ's write queue is half full instead of having records refused:
# every record ends in the DLQ, none is refused or lost.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq sqlite3
require_built
pb_setup
T=$PB_TMP
N=400000
"$PBGEN" --count $N --size 64 --seed 23 -o "$T/in.pcap"

pb_ports 2
DEAD=${PB_PORTS[0]} # nobody listens here
pb_node_conf edge 112 "${PB_PORTS[1]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = "max"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $DEAD; } );
resend = { timeout = 0.5; buffer_mb = 1; };
dlq = { path = "dlq.db"; max_mb = 4096; };
CONF

pb_node edge
pb_wait_until 120 "the edge's source to finish" \
    pb_source_is "${PB_NODE_API[edge]}" in state finished
pb_wait_until 30 "every record to be in the DLQ or refused" \
    pb_node_true edge /api/v1/peers/col ".in_flight == 0 and .to_dlq + .dlq_refused == $N"
pb_wait_until 60 "the DLQ's writer to commit what it accepted" pb_dlq_committed edge
stats=$(pb_dlq edge -c .stats)
peer=$(pb_node_json edge /api/v1/peers/col -c '{state, in_flight, to_dlq, dlq_refused}')
pb_log "DLQ stats: $stats"
pb_log "edge /peers/col: $peer"
refused_queue=$(pb_dlq edge .stats.refused_queue)
refused_full=$(pb_dlq edge .stats.refused_full)
rows=$(pb_dlq edge .stats.rows)
to_dlq=$(pb_peer edge col to_dlq)
dlq_refused=$(pb_peer edge col dlq_refused)
[ "$refused_queue" = 0 ] || fail "the DLQ's write queue refused $refused_queue records"
[ "$refused_full" = 0 ] || fail "the DLQ refused $refused_full records as full"
[ "$dlq_refused" = 0 ] || fail "/peers/col dlq_refused = $dlq_refused"
[ "$to_dlq" = $N ] || fail "/peers/col to_dlq = $to_dlq of $N"
[ "$rows" = $N ] || fail "the DLQ holds $rows rows of $N"
pb_node_grep edge 'DLQ refused' && fail "the edge logged refusals"

pb_alive "${PB_NODE_PID[edge]}" || fail "edge died"
pb_node_stop edge 20
pb_node_exit_ok edge "SIGTERM"
sqlrows=$(sqlite3 "$T/edge/dlq.db" 'select count(*) from dlq' 2>&1) || fail "sqlite3: $sqlrows"
[ "$sqlrows" = $N ] || fail "dlq.db has $sqlrows rows of $N"
pb_log "all $N records in dlq.db, none refused"
pb_no_crash edge

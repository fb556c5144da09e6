#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A full DLQ. The edge's collector is unreachable (nothing listens on its
# port), resend.timeout is 0.5 s and dlq.max_mb is 1: some 25 MB of records
# expire into a 1 MiB DLQ. The DLQ refuses what does not fit and counts it
# (GET /dlq stats.refused_full > 0, /peers dlq_refused > 0), the daemon
# logs it loudly, does not crash, keeps the database within its limit,
# answers its API and stops cleanly. Every record is accounted for: in
# the DLQ or refused.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq sqlite3
require_built
pb_setup
T=$PB_TMP
N=50000
"$PBGEN" --count $N --size 512 --seed 17 -o "$T/in.pcap"

pb_ports 2
DEAD=${PB_PORTS[0]} # nobody listens here
pb_node_conf edge 111 "${PB_PORTS[1]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 25000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $DEAD; } );
resend = { timeout = 0.5; buffer_mb = 64; };
dlq = { path = "dlq.db"; max_mb = 1; };
CONF

pb_node edge
pb_wait_until 15 "the DLQ to refuse records (refused_full > 0)" \
    pb_node_true edge /api/v1/dlq '.stats.refused_full > 0'
pb_wait_until 20 "the edge's source to finish" \
    pb_source_is "${PB_NODE_API[edge]}" in state finished
# Everything expires within resend.timeout of its capture.
pb_wait_until 10 "every record to be in the DLQ or refused" \
    pb_node_true edge /api/v1/peers/col ".in_flight == 0 and .to_dlq + .dlq_refused == $N"
# Rows count once committed: the writer may still hold accepted puts.
pb_wait_until 30 "the DLQ's writer to commit what it accepted" pb_dlq_committed edge
stats=$(pb_dlq edge -c .stats)
peer=$(pb_node_json edge /api/v1/peers/col -c '{state, in_flight, to_dlq, dlq_refused, last_error}')
pb_log "DLQ stats: $stats"
pb_log "edge /peers/col: $peer"
rows=$(pb_dlq edge .stats.rows)
total=$(pb_dlq edge .total)
refused=$(pb_dlq edge .stats.refused_full)
max_bytes=$(pb_dlq edge .stats.max_bytes)
to_dlq=$(pb_peer edge col to_dlq)
dlq_refused=$(pb_peer edge col dlq_refused)
pb_log "rows $rows (GET /dlq total $total), refused_full $refused, max_bytes $max_bytes; peer to_dlq $to_dlq, dlq_refused $dlq_refused"
[ "$refused" -gt 0 ] || fail "stats.refused_full = $refused"
[ "$dlq_refused" -gt 0 ] || fail "/peers/col dlq_refused = $dlq_refused"
[ "$rows" -gt 0 ] || fail "nothing at all was stored in the DLQ"
[ "$rows" = "$total" ] || fail "stats.rows $rows but GET /dlq total $total"
[ "$rows" -lt $N ] || fail "all $N records fit in a 1 MiB DLQ?"
[ "$max_bytes" = 1048576 ] || fail "stats.max_bytes $max_bytes, expected 1048576"
[ "$to_dlq" = "$rows" ] || fail "/peers to_dlq $to_dlq, DLQ rows $rows"
[ $((to_dlq + dlq_refused)) = $N ] ||
    fail "to_dlq $to_dlq + dlq_refused $dlq_refused != $N records read"

# Loud: a warning that says the DLQ refused records.
pat='WARN.*(DLQ|dlq).*(refused|full)|WARN.*(refused|full).*(DLQ|dlq)'
pb_node_grep edge "$pat" || fail "no warning about the DLQ refusing records"
pb_log "log: $(grep -Eh "$pat" "$(pb_node_log edge)" | head -2)"
nwarn=$(grep -Ec "$pat" "$(pb_node_log edge)" || true)
pb_log "$nwarn log line(s) about refusals (rate-limited, not one per record)"
[ "$nwarn" -lt 1000 ] || fail "$nwarn log lines about refusals: not rate-limited"

# Still alive and answering; the database stays within its limit.
pb_alive "${PB_NODE_PID[edge]}" || fail "edge died"
[ "$(pb_node_json edge /api/v1/status .node.id)" = 111 ] || fail "status after the refusals"
pb_node_stop edge 20
pb_node_exit_ok edge "SIGTERM with a full DLQ"
size=$(stat -c %s "$T/edge/dlq.db")
wal=$(stat -c %s "$T/edge/dlq.db-wal" 2>/dev/null || echo 0)
sqlrows=$(sqlite3 "$T/edge/dlq.db" 'select count(*) from dlq' 2>&1) || fail "sqlite3: $sqlrows"
pb_log "dlq.db: $size bytes (+ WAL $wal), $sqlrows rows"
[ "$sqlrows" -ge "$rows" ] || fail "dlq.db has $sqlrows rows after the stop, the API said $rows"
# Page granularity and the shutdown spill may overshoot a little, not 2x.
[ "$size" -le $((2 * 1048576)) ] || fail "dlq.db is $size bytes with max_mb = 1"
pb_no_crash edge
pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of the collector in the middle of a 1 M packet stream (64-byte
# frames, edge paced at 150 kpps so the stream lasts ~7 s), restarted with
# the same configuration: the collector recovers its custody point from its
# pcapng (a partial block at the end is cut off), the edge resends what was
# not acknowledged, and the output files together hold every input frame
# exactly once and in order: zero lost, zero duplicated.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq
require_built
pb_setup
T=$PB_TMP
N=1000000
"$PBGEN" --count $N --size 64 --seed 9 -o "$T/in.pcap"

pb_ports 3
TP=${PB_PORTS[0]}
pb_node_conf col 52 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf edge 51 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 150000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 60; buffer_mb = 512; };
CONF

pb_node col
pb_node edge -x
# Kill once a good part is written, well before the end.
pb_wait_until 15 "the collector to write 250000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 250000'
pb_node_kill col KILL
pb_node_wait_exit col 5
before=$(pb_count "$T"/col/out/*.pcapng 2>/dev/null || echo "unreadable (partial block)")
acked=$(pb_peer edge col records_acked)
pb_log "collector killed: edge had $acked record(s) acknowledged; output file: $before frame(s)"
[ "$acked" -lt $N ] || fail "the stream was over before the kill"
sleep 1
pb_node col
pb_node_grep col 'recovered custody|custody' || pb_log "note: no custody recovery line in the collector log"
pb_log "collector log: $(grep -h 'custody\|truncat' "$(pb_node_log col)" | head -3)"

pb_node_wait_exit edge 40
pb_node_exit_ok edge "edge (--exit-on-finish)"
ups=$(grep -c "peer 'col' up" "$(pb_node_log edge)" || true)
[ "$ups" -ge 2 ] || fail "the edge's link to the collector came up $ups time(s), expected a reconnect"
pb_settle col
pb_log "edge peer col before exit: see edge log"
grep -h "peer 'col'" "$(pb_node_log edge)" | head -5 | while read -r l; do pb_log "  $l"; done
dupl=$(pb_peers_sum col link_duplicates)
odup=$(pb_peers_sum col origin_duplicates)
lost=$(pb_peers_sum col link_lost)
pb_log "restarted collector: link_duplicates $dupl, origin_duplicates $odup, link_lost $lost"
[ "$lost" = 0 ] || fail "restarted collector: link_lost $lost"
pb_log "gaps: $(pb_node_json col /api/v1/gaps -c .totals)"
missing=$(pb_gaps col missing_total)
[ "$missing" = 0 ] || fail "restarted collector: /gaps missing_total $missing"
pb_node_stop col 20
pb_node_exit_ok col "restarted collector after SIGTERM"

mapfile -t outs < <(pb_outputs_ng "$T/col/out")
total=$(pb_count "${outs[@]}")
pb_log "output: ${#outs[@]} file(s): $(for f in "${outs[@]}"; do printf '%s=%s ' "${f##*/}" "$(pb_count "$f")"; done)"
[ "${#outs[@]}" -ge 2 ] || fail "expected a second output file after the restart, got ${#outs[@]}"
[ "$total" = $N ] || fail "output has $total frames, expected $N ($((total - N)) extra)"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
pb_cmp --ts --origin 51 "$T/in.pcap" "${outs[@]}"
pb_no_crash col edge
pass

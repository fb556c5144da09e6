#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Tunnel aggregation on 127.0.0.1: two edges (file sources, node ids 21 and
# 22, different pbgen files) send to a collector that also replays a file
# of its own (node 30). The collector's pcapng must hold every input frame
# exactly once (multiset of the output = union of the inputs, timestamps
# included) and each origin's frames in their original order (pbcmp
# --origin splits the output by the EPB comment). Its /gaps shows nothing
# missing and no duplicates, and /peers counts every record received.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq
require_built
pb_setup
T=$PB_TMP

N1=40000 N2=25000 N3=15000
TOTAL=$((N1 + N2 + N3))
"$PBGEN" --count $N1 --size 64 --seed 11 -o "$T/e1.pcap"
"$PBGEN" --count $N2 --sizes 64,300,1514 --seed 22 -o "$T/e2.pcap"
"$PBGEN" --count $N3 --size 128 --seed 33 -o "$T/col.pcap"

pb_ports 4
TP=${PB_PORTS[0]}
pb_node_conf col 30 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
captures = ( { name = "own"; file = "$T/col.pcap"; rate = 20000; } );
dump = { name = "all"; file = "out/all-%Y%m%d-%H%M%S.pcapng"; };
CONF
for e in 1 2; do
	pb_node_conf "e$e" "2$e" "${PB_PORTS[$((e + 1))]}" <<CONF
captures = ( { name = "in$e"; file = "$T/e$e.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 30; };
CONF
done

pb_node col
pb_node e1 -x
pb_node e2 -x
# -x: an edge exits once its file is read and the collector acknowledged
# every record, which it does only once they are written to its file.
pb_node_wait_exit e1 30
pb_node_exit_ok e1 "edge 1 (--exit-on-finish)"
pb_node_wait_exit e2 30
pb_node_exit_ok e2 "edge 2 (--exit-on-finish)"
pb_wait_until 20 "the collector's own source to finish" \
    pb_source_is "${PB_NODE_API[col]}" own state finished
pb_wait_until 10 "the collector's sink to count $TOTAL packets" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets == $TOTAL"
pb_settle col

# Counters while the collector still runs.
pb_log "collector peers: $(pb_node_json col /api/v1/peers -c .)"
for e in 1 2; do
	want=$N1
	[ $e = 1 ] || want=$N2
	sel="[.peers[] | select(.node.id == 2$e)]"
	got=$(pb_node_json col /api/v1/peers "$sel | map(.records_received) | add")
	pb_log "collector: records_received from node 2$e: $got (edge read $want)"
	[ "$got" = "$want" ] || fail "collector received $got records from node 2$e, expected $want"
	bad=$(pb_node_json col /api/v1/peers \
	    "$sel | map(.link_duplicates + .origin_duplicates + .link_lost + .loops) | add")
	[ "$bad" = 0 ] || fail "collector: node 2$e link duplicates + lost + loops = $bad, expected 0"
done
pb_log "collector gaps: $(pb_node_json col /api/v1/gaps -c .totals)"
missing=$(pb_gaps col missing_total)
dups=$(pb_gaps col duplicates)
streams=$(pb_gaps col streams)
pb_log "gaps: streams $streams, missing_total $missing, duplicates $dups"
[ "$missing" = 0 ] || fail "collector /gaps: missing_total $missing"
[ "$dups" = 0 ] || fail "collector /gaps: duplicates $dups"
[ "$streams" -ge 2 ] || fail "collector /gaps: $streams streams, expected at least the 2 edges'"

pb_node_stop col 20
pb_node_exit_ok col "collector after SIGTERM"

mapfile -t outs < <(pb_outputs_ng "$T/col/out")
total=$(pb_count "${outs[@]}")
pb_log "output: ${#outs[@]} file(s), $total frames (inputs $N1 + $N2 + $N3 = $TOTAL)"
[ "$total" = $TOTAL ] || fail "output has $total frames, expected $TOTAL"

# Every frame exactly once: the output as a multiset equals the union.
pb_cmp --ts --multiset --na 3 "$T/e1.pcap" "$T/e2.pcap" "$T/col.pcap" "${outs[@]}"

# Per origin: exactly that input, in order.
for pair in "21:$T/e1.pcap" "22:$T/e2.pcap" "30:$T/col.pcap"; do
	node=${pair%%:*} file=${pair#*:}
	pb_log "origin $node: $("$PBCMP" --origin "$node" --count "${outs[@]}") frames"
	pb_cmp --ts --origin "$node" "$file" "${outs[@]}"
done
pb_no_crash col e1 e2
pass

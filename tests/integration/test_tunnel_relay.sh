#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Relay chain on 127.0.0.1: edge (41) → relay1 (42) → relay2 (43) →
# collector (44). Every record in the collector's pcapng carries the hops
# relay1, relay2, collector in that order, with their names, and each hop
# node's seq grows from record to record; the frames are the input, in
# order; the collector's /api/v1/gaps gives the edge's stream that path by
# name. Then a misconfigured loop: relay2 also sends to relay1, so every
# record would come back to relay1. The loop must be detected (loops
# counter in /peers, a log line), the looping copies dropped, every frame
# still delivered exactly once to the collector, and the chain must not
# stall: a dropped looping record must not hold up acknowledgements.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq tshark
require_built
pb_setup
T=$PB_TMP
N=5000
"$PBGEN" --count $N --sizes 64,200,1514 --seed 4 -o "$T/in.pcap"

# chain LOOP: writes the four configurations; LOOP=1 adds relay2 → relay1.
pb_ports 8
P_R1=${PB_PORTS[0]} P_R2=${PB_PORTS[1]} P_C=${PB_PORTS[2]}
chain() {
	local loop=$1 extra=
	[ "$loop" = 0 ] || extra=", { name = \"back\"; address = \"127.0.0.1\"; port = $P_R1; }"
	rm -rf "$T/collector" "$T/relay1" "$T/relay2" "$T/edge"
	pb_node_conf collector 44 "${PB_PORTS[3]}" <<CONF
listen = { address = "127.0.0.1"; port = $P_C; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
	pb_node_conf relay2 43 "${PB_PORTS[4]}" <<CONF
listen = { address = "127.0.0.1"; port = $P_R2; };
peers = ( { name = "collector"; address = "127.0.0.1"; port = $P_C; }$extra );
resend = { timeout = 30; };
CONF
	pb_node_conf relay1 42 "${PB_PORTS[5]}" <<CONF
listen = { address = "127.0.0.1"; port = $P_R1; };
peers = ( { name = "relay2"; address = "127.0.0.1"; port = $P_R2; } );
resend = { timeout = 30; };
CONF
	pb_node_conf edge 41 "${PB_PORTS[6]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 50000; } );
peers = ( { name = "relay1"; address = "127.0.0.1"; port = $P_R1; } );
resend = { timeout = 30; };
CONF
}

# run_chain: starts the chain, waits until the edge exited (everything
# acknowledged) and the collector wrote N frames.
run_chain() {
	pb_node collector
	pb_node relay2
	pb_node relay1
	pb_node edge -x
	local n=0
	while pb_alive "${PB_NODE_PID[edge]}"; do
		n=$((n + 1))
		if [ "$n" -gt 200 ]; then
			# Say where the acknowledgements got stuck.
			for r in edge relay1 relay2; do
				pb_log "$r: $(pb_node_json "$r" /api/v1/peers -c \
				    '[.peers[] | {name, direction, state, in_flight, records_sent, records_acked, records_received, custody_seq, loops}]')"
			done
			fail "the edge did not finish within 20 s: its records are not all acknowledged"
		fi
		sleep 0.1
	done
	pb_node_wait_exit edge 1
	pb_node_exit_ok edge "edge (--exit-on-finish)"
	pb_wait_until 10 "the collector to write $N frames" \
	    pb_node_true collector /api/v1/sinks ".sinks[0].packets >= $N"
}

stop_chain() {
	local n
	for n in relay1 relay2 collector; do
		pb_node_stop "$n" 20
		pb_node_exit_ok "$n" "SIGTERM"
	done
}

gap_path() { # NODE: the path of origin 41's stream(s) as "id(name) ..." lines
	pb_node_jq "$1" /api/v1/gaps \
	    '.streams[] | select(.origin.node == 41) | [.path[] | "\(.node)(\(.name))"] | join(" ")'
}
want_path() { # NODE PATH: waits up to 10 s for it, then fails saying what it is
	local n=0 p
	until p=$(gap_path "$1") && [ "$p" = "$2" ]; do
		n=$((n + 1))
		[ "$n" -le 100 ] || fail "$1's /gaps path of the edge's stream: '$p', expected '$2'"
		sleep 0.1
	done
}

# ---- 1. a clean chain ----
chain 0
run_chain
# /gaps names each origin stream's route: the collector sees the edge's
# stream come edge → relay1 → relay2 → collector, relay2 sees its part.
want_path collector "41(edge) 42(relay1) 43(relay2) 44(collector)"
want_path relay2 "41(edge) 42(relay1) 43(relay2)"
pb_log "collector /gaps path: $(gap_path collector); relay2: $(gap_path relay2)"
pb_log "relay1 peers: $(pb_node_json relay1 /api/v1/peers -c '[.peers[] | {name, direction, state, records_sent, records_acked, records_received, loops}]')"
stop_chain
mapfile -t outs < <(pb_outputs_ng "$T/collector/out")
pb_log "collector output: $(pb_count "${outs[@]}") frames"
pb_cmp --ts --origin 41 "$T/in.pcap" "${outs[@]}"

# Hop lists: "... link=43:<epoch>:<seq> hops=3 42(relay1):seq=S:ts=... 43(relay2):seq=S:ts=...
# 44(collector):seq=S:ts=... trailers=[]", seqs increasing per hop node.
tshark -r "${outs[0]}" -T fields -e frame.comment >"$T/comments.txt" 2>"$T/tshark.err" ||
    fail "tshark: $(cat "$T/tshark.err")"
pb_log "first comment: $(head -1 "$T/comments.txt")"
awk -v n=$N '
{
	if (!match($0, /hops=[0-9]+/)) { print "no hops= in line " NR ": " $0; bad = 1; exit }
	h = substr($0, RSTART + 5, RLENGTH - 5)
	if (h != 3) { print "line " NR ": hops=" h ", expected 3: " $0; bad = 1; exit }
	rest = substr($0, RSTART + RLENGTH + 1)
	split(rest, f, " ")
	want[1] = "42(relay1)"; want[2] = "43(relay2)"; want[3] = "44(collector)"
	for (i = 1; i <= 3; i++) {
		split(f[i], p, ":")
		if (p[1] != want[i]) { print "line " NR ": hop " i " is " p[1] ", expected " want[i]; bad = 1; exit }
		s = substr(p[2], 5) + 0
		# (mawk has no {9} intervals: check the 9 digits by length)
		if (p[2] !~ /^seq=[0-9]+$/ || p[3] !~ /^ts=[0-9]+\.[0-9]+$/ ||
		    length(substr(p[3], index(p[3], ".") + 1)) != 9) {
			print "line " NR ": malformed hop " f[i]; bad = 1; exit
		}
		if (NR > 1 && s <= last[i]) { print "line " NR ": hop " want[i] " seq " s " not above " last[i]; bad = 1; exit }
		last[i] = s
	}
	if ($0 !~ /^pb origin=41\(edge\) source=0\(in\) epoch=[0-9]+ seq=[0-9]+ link=43:[0-9]+:[0-9]+ /) {
		print "line " NR ": unexpected head: " $0; bad = 1; exit
	}
	if (!match($0, / seq=[0-9]+ /) || substr($0, RSTART + 5, RLENGTH - 6) != NR) {
		print "line " NR ": origin seq is not " NR ": " $0; bad = 1; exit
	}
}
END {
	if (!bad && NR != n) { print "comments: " NR " lines, expected " n; bad = 1 }
	exit bad
}' "$T/comments.txt" >"$T/awk.out" || fail "hop lists: $(cat "$T/awk.out")"
pb_log "hop lists of all $N records: relay1, relay2, collector in order, seqs increasing"

# ---- 2. relay2 also sends back to relay1: a loop ----
chain 1
run_chain
pb_settle relay1
pb_settle relay2
pb_log "relay1 peers: $(pb_node_json relay1 /api/v1/peers -c '[.peers[] | {name, direction, state, records_received, loops}]')"
pb_log "relay2 peers: $(pb_node_json relay2 /api/v1/peers -c '[.peers[] | {name, direction, state, records_sent, records_acked, in_flight}]')"
# The loop is caught at relay1 (it finds itself in the hop list) or, if
# relay2 filters what it sends by hop list, at relay2: count both.
loops=0
for n in relay1 relay2; do
	l=$(pb_peers_sum "$n" loops)
	d=$(pb_node_json "$n" /api/v1/peers '.tunnel.loops_dropped')
	pb_log "$n: loops in /peers $l, tunnel.loops_dropped $d"
	loops=$((loops + l + d))
done
[ "$loops" -gt 0 ] || fail "no loop counted in /peers of relay1 or relay2"
pb_node_grep relay1 'loop([^b]|$)' || pb_node_grep relay2 'loop([^b]|$)' ||
    fail "no log line about the forwarding loop on relay1 or relay2"
pb_log "log: $(grep -Eh 'loop([^b]|$)' "$(pb_node_log relay1)" "$(pb_node_log relay2)" | head -1)"
# The loop must not hold up custody: relay2 gets relay1's acknowledgements
# for the looped records, so nothing stays in flight and nothing goes to a
# DLQ (resend.timeout is 30 s, the edge finished long before).
pb_wait_until 5 "relay2's peer 'back' to have nothing in flight" \
    pb_node_true relay2 /api/v1/peers/back '.in_flight == 0'
stop_chain
mapfile -t outs < <(pb_outputs_ng "$T/collector/out")
pb_log "collector output with the loop: $(pb_count "${outs[@]}") frames"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
pb_cmp --ts --origin 41 "$T/in.pcap" "${outs[@]}"
pb_no_crash edge relay1 relay2 collector
pass

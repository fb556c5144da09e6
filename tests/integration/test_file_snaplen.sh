#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Frames a capture cut short (snaplen) replayed from a file: pbgen writes
# 64, 1500, 9018 and 65535-byte frames keeping only 96 bytes of each, as a
# snaplen-limited capture does. The file source (classic pcap: our mmap
# reader; the same frames as pcapng: libpcap) delivers every one with its
# 96 bytes and its length on the wire, into pcap and pcapng dumps: pbcmp
# finds them identical to the input (caplen, origlen, bytes, timestamps),
# tshark shows the original lengths and capinfos the same data size; so
# does a collector that got them from an edge over the tunnel. Only frames
# whose captured bytes are above max_frame are rejected and counted.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools curl jq tshark capinfos editcap
require_built
pb_setup
T=$PB_TMP

N=3000
"$PBGEN" --count $N --sizes 64,1500,9018,65535 --snaplen 96 -o "$T/snap.pcap"
editcap -F pcapng "$T/snap.pcap" "$T/snap.pcapng" 2>/dev/null || fail "editcap -F pcapng"
# Captured bytes above the default max_frame (9106) for half of them.
"$PBGEN" --count 1000 --sizes 1500,12000 --snaplen 10000 --seed 5 -o "$T/big.pcap"

# "origlen caplen" counts of a capture, as tshark reads it.
lengths() {
	tshark -r "$1" -T fields -e frame.len -e frame.cap_len 2>/dev/null | sort | uniq -c |
	    awk '{ printf "%s:%s:%s ", $1, $2, $3 }'
}

# capinfos: number of packets and data size (the sum of original lengths).
sizes() {
	capinfos -M -c -d "$1" 2>/dev/null | awk -F': *' '/Number of packets|Data size/ { printf "%s ", $2 }'
}

want_lengths=$(lengths "$T/snap.pcap")
pb_log "input lengths (count:origlen:caplen): $want_lengths"
[ "$want_lengths" = "750:1500:96 750:64:64 750:65535:96 750:9018:96 " ] ||
    fail "pbgen --snaplen: unexpected input $want_lengths"
want_sizes=$(sizes "$T/snap.pcap")
pb_log "input capinfos: $want_sizes"

# run NAME INPUT: replays INPUT into NAME/out (pcapng and pcap); the
# source's counters are left in PACKETS, TRUNCATED, OVERSIZE.
run() {
	local name=$1 input=$2
	pb_ports 1
	pb_node_conf "$name" 3 "${PB_PORTS[0]}" <<CONF
captures = ( { name = "in"; file = "$input"; } );
dump = (
  { name = "ng"; file = "out/o-%Y%m%d-%H%M%S.pcapng"; },
  { name = "classic"; file = "out/o-%Y%m%d-%H%M%S.pcap"; format = "pcap"; }
);
CONF
	pb_node "$name"
	pb_wait_until 30 "$name: the source to finish" \
	    pb_source_is "${PB_NODE_API[$name]}" in state finished
	PACKETS=$(pb_source_field "${PB_NODE_API[$name]}" in packets)
	TRUNCATED=$(pb_source_field "${PB_NODE_API[$name]}" in truncated)
	OVERSIZE=$(pb_source_field "${PB_NODE_API[$name]}" in oversize)
	pb_log "$name: packets $PACKETS, truncated $TRUNCATED, oversize $OVERSIZE"
	pb_node_stop "$name"
	pb_node_exit_ok "$name" SIGTERM
	NG=$(pb_outputs "$T/$name/out" '*.pcapng')
	PC=$(pb_outputs "$T/$name/out" '*.pcap')
	[ "$(pb_nlines "$NG")" = 1 ] || fail "$name: expected one pcapng, got '$NG'"
	[ "$(pb_nlines "$PC")" = 1 ] || fail "$name: expected one pcap, got '$PC'"
}

for name in snap snapng; do
	input=$T/snap.pcap
	[ "$name" = snap ] || input=$T/snap.pcapng
	run "$name" "$input"
	[ "$PACKETS" = $N ] || fail "$name: $PACKETS packets delivered, expected $N"
	[ "$TRUNCATED" = $((N * 3 / 4)) ] || fail "$name: truncated $TRUNCATED, expected $((N * 3 / 4))"
	[ "$OVERSIZE" = 0 ] || fail "$name: $OVERSIZE frame(s) rejected as oversize"
	for out in "$NG" "$PC"; do
		pb_cmp --ts "$T/snap.pcap" "$out"
		got=$(lengths "$out")
		[ "$got" = "$want_lengths" ] || fail "$name: $out: tshark lengths $got, expected $want_lengths"
		got=$(sizes "$out")
		[ "$got" = "$want_sizes" ] || fail "$name: $out: capinfos $got, expected $want_sizes"
	done
	err=$(tshark -r "$NG" -q 2>&1 >/dev/null | grep -v 'Running as user' || true)
	[ -z "$err" ] || fail "$name: tshark: $err"
	pb_log "$name: $N frames, original lengths kept in pcap and pcapng"
done

# Through the tunnel: caplen and origlen travel as they are (RECORD
# carries both) and the collector writes what the edge read.
pb_ports 3
pb_node_conf col 72 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = ${PB_PORTS[0]}; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf edge 71 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/snap.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = ${PB_PORTS[0]}; } );
CONF
pb_node col
pb_node edge
pb_tunnel_drain edge col $N
mapfile -t outs < <(pb_outputs_ng "$T/col/out")
[ "${#outs[@]}" = 1 ] || fail "tunnel: expected one pcapng, got ${outs[*]}"
pb_cmp --ts "$T/snap.pcap" "${outs[0]}"
got=$(lengths "${outs[0]}")
[ "$got" = "$want_lengths" ] || fail "tunnel: ${outs[0]}: tshark lengths $got, expected $want_lengths"
pb_log "tunnel: the collector wrote the $N cut frames with their original lengths"

run big "$T/big.pcap"
[ "$PACKETS" = 500 ] || fail "big: $PACKETS packets delivered, expected 500"
[ "$OVERSIZE" = 500 ] || fail "big: oversize $OVERSIZE, expected 500"
[ "$TRUNCATED" = 0 ] || fail "big: truncated $TRUNCATED, expected 0"
pb_node_grep big "dropping a 10000-byte frame above max_frame 9106" ||
    fail "big: no log line about the rejected frames"
for out in "$NG" "$PC"; do
	got=$(lengths "$out")
	[ "$got" = "500:1500:1500 " ] || fail "big: $out: tshark lengths $got, expected 500 whole 1500-byte frames"
done
pb_log "big: 500 frames with 10000 captured bytes rejected and counted, 500 written"
pb_no_crash snap snapng col edge big
pass

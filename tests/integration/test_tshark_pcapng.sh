#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What tshark sees in our pcapng: one interface per source named
# "<node>/<source>", per-source frames identical to the input, EPB comments
# with origin and a sequence number that grows by one per source, and the
# Metamako trailer values that pbgen wrote, both as Wireshark's own
# dissector decodes them and as our comment renders them.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools tshark
require_built
pb_setup
T=$PB_TMP

NA=300
NB=500
"$PBGEN" --count $NA --sizes 64,1500,9018 --trailers metamako,metamako --gap-ns 1000000 \
    --trailer-log "$T/alpha.tl" -o "$T/alpha.pcap"
"$PBGEN" --mix --count $NB --seed 5 --gap-ns 700000 -o "$T/beta.pcap"
mkdir -p "$T/out"
cat >"$T/ts.conf" <<EOF
node = { id = 1; name = "edge"; };
captures = (
  { name = "alpha"; file = "$T/alpha.pcap"; fcs = true;
    trailers = ( { type = "metamako"; }, { type = "metamako"; } ); },
  { name = "beta"; file = "$T/beta.pcap"; }
);
dump = { file = "$T/out/edge-%Y%m%d-%H%M%S.pcapng"; };
api = { enabled = false; };
EOF
pb_daemon edge "$T/ts.conf" --exit-on-finish
pb_wait_exit "$PB_PID" 60
[ "$PB_RC" = 0 ] || fail "daemon exit status $PB_RC"
OUT=$(pb_outputs "$T/out")
[ "$(pb_nlines "$OUT")" = 1 ] || fail "expected one output file: $OUT"

tsh() { tshark -r "$OUT" "$@" 2>"$T/tshark.err" || fail "tshark $*: $(cat "$T/tshark.err")"; }

# Interface names.
names=$(tsh -T fields -e frame.interface_name | sort -u | tr '\n' ' ')
[ "$names" = "edge/alpha edge/beta " ] || fail "interface names: '$names'"

for src in alpha beta; do
	# Frames per source: identical, in order, with timestamps.
	tsh -Y "frame.interface_name == \"edge/$src\"" -w "$T/$src.out.pcapng"
	pb_cmp --ts "$T/$src.pcap" "$T/$src.out.pcapng"

	# Comments: origin node and source, one epoch, seq 1, 2, 3, ...
	tsh -Y "frame.interface_name == \"edge/$src\"" -T fields -e frame.comment >"$T/$src.comments"
	n=$([ "$src" = alpha ] && echo $NA || echo $NB)
	awk -v src="$src" -v n="$n" '
		{
			if ($0 !~ "^pb origin=1\\(edge\\) source=[0-9]+\\(" src "\\) epoch=[0-9]+ seq=[0-9]+ hops=0( |$)") {
				print "comment " NR ": " $0; bad = 1; exit 1
			}
			match($0, /seq=[0-9]+/); seq = substr($0, RSTART + 4, RLENGTH - 4)
			match($0, /epoch=[0-9]+/); ep = substr($0, RSTART, RLENGTH)
			if (seq != NR) { print "comment " NR ": seq " seq; bad = 1; exit 1 }
			if (NR > 1 && ep != epoch) { print "comment " NR ": " ep " != " epoch; bad = 1; exit 1 }
			epoch = ep
		}
		END { if (!bad && NR != n) { print NR " comments, expected " n; exit 1 } }
	' "$T/$src.comments" >"$T/awk.out" || fail "$src: $(cat "$T/awk.out")"
	pb_log "$src: interface edge/$src, $n frames, comments: $(head -n1 "$T/$src.comments")"
done

# Trailer values in our comments: every trailer of every frame, innermost
# first, as pbgen logged them ("index k sec.nsec dev port flags").
awk '{ a[$1] = a[$1] " ts=" $3 " dev=" $4 " port=" $5 " flags=" $6 }
     END { for (i = 0; i < '$NA'; i++) print i a[i] }' "$T/alpha.tl" >"$T/expect.comment"
awk '{
	out = NR - 1; s = $0
	while (match(s, /ts=[0-9]+\.[0-9]+ dev=[0-9]+ port=[0-9]+ flags=0x[0-9a-fA-F]+/)) {
		out = out " " substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
	}
	print out
}' "$T/alpha.comments" >"$T/got.comment"
diff "$T/expect.comment" "$T/got.comment" >"$T/diff.out" ||
    fail "trailers in comments differ from pbgen's: $(head -n 6 "$T/diff.out")"
grep -q 'trailers=\[metamako ts=' "$T/alpha.comments" || fail "comment does not name the trailer type"

# Wireshark's Metamako heuristic sees the outermost trailer.
tsh -Y 'frame.interface_name == "edge/alpha"' --enable-heuristic metamako_eth -T fields \
    -E separator='|' -e metamako.time -e metamako.srcdevice -e metamako.srcport \
    -e metamako.flags >"$T/mm.txt"
[ "$(grep -c . "$T/mm.txt")" = $NA ] || fail "tshark decoded $(grep -c . "$T/mm.txt") trailers, expected $NA"
cut -d'|' -f1 "$T/mm.txt" | sed -E 's/\.[0-9]+ UTC$/ UTC/' | date -u -f - +%s >"$T/mm.sec" ||
    fail "cannot parse metamako.time: $(head -n1 "$T/mm.txt")"
cut -d'|' -f1 "$T/mm.txt" | sed -E 's/.*\.([0-9]+) UTC$/\1/' >"$T/mm.frac"
cut -d'|' -f2- "$T/mm.txt" | tr '|' ' ' >"$T/mm.rest"
paste -d. "$T/mm.sec" "$T/mm.frac" | paste -d' ' - "$T/mm.rest" >"$T/got.mm"
awk '$2 == 1 { print $3, $4, $5, $6 }' "$T/alpha.tl" >"$T/expect.mm"
diff "$T/expect.mm" "$T/got.mm" >"$T/diff.out" ||
    fail "tshark metamako fields differ from pbgen's: $(head -n 6 "$T/diff.out")"
pb_log "metamako (tshark): $(head -n1 "$T/got.mm")"
pass

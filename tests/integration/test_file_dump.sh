#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# File source → pcap and pcapng dumps (--exit-on-finish): every frame of
# each input, byte for byte, in order, with its nanosecond timestamp, for
# small, full-size, jumbo-with-trailers, 802.1Q and QinQ frames; tshark
# reads the pcapng without complaint. Then several sources into one dump:
# the same frames, in any order.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools tshark
require_built
pb_setup
T=$PB_TMP

# name | pbgen options | capture options
cases=(
	"s64|--count 20000 --size 64|"
	"s1500|--count 5000 --size 1500 --gap-ns 12000|"
	"jumbo|--count 2000 --size 9018 --trailers metamako,metamako|fcs = true; trailers = ( { type = \"metamako\"; }, { type = \"metamako\"; } );"
	"vlan|--count 3000 --sizes 64,512,1522 --vlan 100|"
	"qinq|--count 3000 --sizes 68,777,1526,9022 --qinq 200,300 --fcs|fcs = true;"
	"mix|--mix --count 4000 --seed 3 --trailers metamako|fcs = true; trailers = ( { type = \"metamako\"; } );"
)

all_inputs=()
caps=
for c in "${cases[@]}"; do
	IFS='|' read -r name gen capopts <<<"$c"
	# shellcheck disable=SC2086
	"$PBGEN" $gen -o "$T/$name.pcap"
	all_inputs+=("$T/$name.pcap")
	caps="$caps${caps:+,}
  { name = \"$name\"; file = \"$T/$name.pcap\"; $capopts }"
	mkdir -p "$T/$name"
	cat >"$T/$name.conf" <<EOF
node = { id = 3; name = "filetest"; };
captures = ( { name = "$name"; file = "$T/$name.pcap"; $capopts } );
dump = (
  { name = "ng"; file = "$T/$name/out-%Y%m%d-%H%M%S.pcapng"; },
  { name = "classic"; file = "$T/$name/out-%Y%m%d-%H%M%S.pcap"; format = "pcap"; }
);
api = { enabled = false; };
EOF
	pb_daemon "$name" "$T/$name.conf" --exit-on-finish
	pb_wait_exit "$PB_PID" 60
	[ "$PB_RC" = 0 ] || fail "$name: daemon exit status $PB_RC"
	ng=$(pb_outputs "$T/$name" '*.pcapng')
	pc=$(pb_outputs "$T/$name" '*.pcap')
	[ "$(pb_nlines "$ng")" = 1 ] || fail "$name: expected one pcapng, got '$ng'"
	[ "$(pb_nlines "$pc")" = 1 ] || fail "$name: expected one pcap, got '$pc'"
	pb_cmp --ts "$T/$name.pcap" "$pc"
	pb_cmp --ts "$T/$name.pcap" "$ng"
	# The classic pcap keeps nanoseconds: check the magic.
	magic=$(od -An -tx4 -N4 "$pc" | tr -d ' ')
	[ "$magic" = a1b23c4d ] || fail "$name: pcap magic $magic, expected nanosecond a1b23c4d"
	err=$(tshark -r "$ng" -q 2>&1 >/dev/null | grep -v 'Running as user' || true)
	[ -z "$err" ] || fail "$name: tshark: $err"
	tshark -r "$ng" -T fields -e frame.number >/dev/null 2>"$T/tshark.err" ||
	    fail "$name: tshark failed: $(cat "$T/tshark.err")"
	pb_log "$name: pcap and pcapng identical to the input"
done

# All sources into one pcapng: nothing lost or duplicated.
mkdir -p "$T/all"
cat >"$T/all.conf" <<EOF
node = { id = 3; name = "filetest"; };
captures = ($caps
);
dump = { file = "$T/all/all-%Y%m%d-%H%M%S.pcapng"; };
api = { enabled = false; };
EOF
pb_daemon all "$T/all.conf" --exit-on-finish
pb_wait_exit "$PB_PID" 60
[ "$PB_RC" = 0 ] || fail "all: daemon exit status $PB_RC"
out=$(pb_outputs "$T/all" '*.pcapng')
pb_cmp --ts --multiset "$out" "${all_inputs[@]}"
pass

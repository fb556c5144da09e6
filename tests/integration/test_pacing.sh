#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# File source pacing: rate = "original" (the file's gaps) and a fixed rate
# in packets per second.
#
# How it is measured (the honest way): the paced frames go out through an
# interface sink onto a veth pair in a private namespace and tcpdump on the
# far end stamps their arrival with the kernel clock. The span between the
# first and the last arrival, and the typical gap, are then compared with
# the file. This measures what a receiver of the replay really sees and
# excludes the daemon's start-up and shutdown, which a wall-clock
# measurement of the whole process would include.
#
# A second, coarser check needs no root: file → file with --exit-on-finish.
# The paced run cannot end before the span has passed, and beyond the wall
# time of an unpaced run of the same file (start-up, reading, shutdown) it
# may take at most 5 % more than the span.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_built
pb_setup
T=$PB_TMP

N=200
GAP_MS=20
SPAN_NS=$(((N - 1) * GAP_MS * 1000000))          # 3.98 s
"$PBGEN" --count $N --sizes 128,1500,9018 --gap-ns $((GAP_MS * 1000000)) -o "$T/orig.pcap"
NPPS=300
PPS=100
PPS_SPAN_NS=$(((NPPS - 1) * 1000000000 / PPS))   # 2.99 s
"$PBGEN" --count $NPPS --size 256 --gap-ns 1 --seed 4 -o "$T/pps.pcap"

# within VALUE_NS EXPECTED_NS PERCENT
within() {
	local v=$1 e=$2 p=$3
	[ $((v * 100)) -ge $((e * (100 - p))) ] && [ $((v * 100)) -le $((e * (100 + p))) ]
}
ms() { echo "$(($1 / 1000000)) ms"; }

# ---- file → file, wall clock (no root needed) ----
file_run() {
	local name=$1 rate=$2 t0 t1
	mkdir -p "$T/$name"
	cat >"$T/$name.conf" <<EOF
node = { id = 6; name = "pace"; };
captures = ( { name = "in"; file = "$T/orig.pcap"; rate = $rate; } );
dump = { file = "$T/$name/p-%Y%m%d-%H%M%S.pcapng"; };
api = { enabled = false; };
EOF
	t0=$(date +%s%N)
	pb_daemon "$name" "$T/$name.conf" --exit-on-finish
	pb_wait_exit "$PB_PID" 60
	t1=$(date +%s%N)
	[ "$PB_RC" = 0 ] || fail "$name: exit status $PB_RC"
	pb_cmp --ts "$T/orig.pcap" $(pb_outputs "$T/$name")
	WALL=$((t1 - t0))
}
file_run fmax '"max"'
base=$WALL
file_run forig '"original"'
paced=$((WALL - base))
pb_log "file→file: rate=max $(ms $base), rate=original $(ms $WALL), difference $(ms $paced) for a span of $(ms $SPAN_NS)"
[ $((WALL * 100)) -ge $((SPAN_NS * 99)) ] ||
    fail "file→file: paced run ended after $(ms $WALL), before the span of $(ms $SPAN_NS)"
[ $((paced * 100)) -le $((SPAN_NS * 105)) ] ||
    fail "file→file: paced run took $(ms $paced) beyond start-up, span is $(ms $SPAN_NS) (+5%)"

if [ "$(id -u)" != 0 ] || ! command -v tcpdump >/dev/null 2>&1 ||
    ! command -v ip >/dev/null 2>&1 || ! command -v tshark >/dev/null 2>&1; then
	pb_log "interface measurement skipped (needs root, ip, tcpdump, tshark)"
	pass "wall-clock check only"
fi

# ---- file → interface, arrival times by tcpdump ----
pb_netns pace
NS=$PB_NS
pb_veth "$NS" p0 p1 9600

# iface_run NAME PCAP RATE EXPECTED_SPAN_NS NOMINAL_GAP_NS COUNT
iface_run() {
	local name=$1 pcap=$2 rate=$3 span=$4 gap=$5 n=$6
	cat >"$T/$name.conf" <<EOF
node = { id = 6; name = "pace"; };
captures = ( { name = "in"; file = "$pcap"; rate = $rate; } );
dump = { name = "wire"; interface = "p0"; };
api = { enabled = false; };
EOF
	pb_tcpdump "td-$name" "$NS" p1 "$T/$name.seen.pcap" ether src 02:00:00:00:00:01
	local td=$PB_TCPDUMP
	pb_daemon "$name" "$T/$name.conf" "$NS" --exit-on-finish
	pb_wait_exit "$PB_PID" 60
	[ "$PB_RC" = 0 ] || fail "$name: exit status $PB_RC"
	pb_wait_until 10 "tcpdump to see $n frames" \
	    sh -c "[ \"\$('$PBCMP' --count '$T/$name.seen.pcap' 2>/dev/null)\" -ge $n ]"
	pb_tcpdump_stop "$td"
	pb_cmp "$pcap" "$T/$name.seen.pcap"
	# Arrival times relative to the first frame, in ns (integer arithmetic
	# on the split "sec.nsec" string: a double would lose the nanoseconds).
	tshark -r "$T/$name.seen.pcap" -T fields -e frame.time_epoch 2>/dev/null |
	    awk -F. 'NR == 1 { s0 = $1 } { printf "%.0f\n", ($1 - s0) * 1000000000 + substr($2 "000000000", 1, 9) }' \
	    >"$T/$name.t"
	local first last got median
	first=$(head -n1 "$T/$name.t")
	last=$(tail -n1 "$T/$name.t")
	got=$((last - first))
	median=$(awk 'NR > 1 { print $1 - prev } { prev = $1 }' "$T/$name.t" | sort -n |
	    awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	pb_log "$name: span $(ms $got) (file: $(ms $span)), median gap $((median / 1000)) µs (nominal $((gap / 1000)) µs)"
	within "$got" "$span" 5 || fail "$name: span $(ms $got), expected $(ms $span) ±5%"
	within "$median" "$gap" 10 || fail "$name: median gap $median ns, expected $gap ns ±10%"
}
iface_run original "$T/orig.pcap" '"original"' $SPAN_NS $((GAP_MS * 1000000)) $N
iface_run pps "$T/pps.pcap" $PPS $PPS_SPAN_NS $((1000000000 / PPS)) $NPPS
pass

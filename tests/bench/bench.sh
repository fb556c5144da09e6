#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Throughput benchmark: packetbrokerd file → pcap and file → pcapng
# (--exit-on-finish, rate max, API off) against `tcpdump -r IN -w OUT` on
# the same input, for 64-byte, 1500-byte and 9018-byte + 2 trailer frames.
# Each case runs 3 times and the fastest run counts; a run whose output
# does not hold every frame fails the benchmark. Not part of `make check`.
# Then runs bench_tunnel.sh (edge -> TCP -> collector against tcpdump|socat
# and the tcplimit program, and the DLQ spill and replay rates) unless
# PB_BENCH_TUNNEL=0; PB_BENCH_RUNS also sets its run count (its default is 5).
#
#   bench.sh [BUILDDIR]      (make bench passes the build dir)
# Environment: PB_BENCH_DIR (default /dev/shm), PB_BENCH_RUNS (default 3),
# PB_BENCH_SCALE (percent of the default frame counts, default 100).
set -eu

BENCH=bench
# shellcheck source=tests/bench/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"

B=${1:-${top_builddir:-.}}
B=$(cd "$B" && pwd)
PBD=$B/server/packetbrokerd
PBGEN=$B/tests/tools/pbgen
PBCMP=$B/tests/tools/pbcmp
RUNS=${PB_BENCH_RUNS:-3}
SCALE=${PB_BENCH_SCALE:-100}
TIME=/usr/bin/time

for x in "$PBD" "$PBGEN" "$PBCMP" "$B/tests/bench/bench_dlq" "$B/tests/bench/bench_gaps"; do
	[ -x "$x" ] || { echo "bench: $x not built (make all check_PROGRAMS)" >&2; exit 1; }
done
[ -x "$TIME" ] || { echo "bench: $TIME missing (Debian package 'time')" >&2; exit 1; }
HAVE_TCPDUMP=1
command -v tcpdump >/dev/null 2>&1 || HAVE_TCPDUMP=0

BASE=${PB_BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] && [ -w "$BASE" ] || BASE=${TMPDIR:-/tmp}
W=$(mktemp -d "$BASE/pbbench.XXXXXX")
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM

# name | frames | pbgen options | capture options | file bytes per frame
CASES=(
	"64B|1000000|--size 64||80"
	"1500B|300000|--size 1500||1516"
	"9018B+2tr|100000|--size 9018 --trailers metamako,metamako|fcs = true; trailers = ( { type = \"metamako\"; }, { type = \"metamako\"; } );|9066"
)

# One case at a time: its input plus one output.
check_space "$W" 0

# timed CMD...: peak RSS (KB) of CMD in T_RSS; fails the benchmark if CMD
# fails.
timed() {
	if ! "$TIME" -f '%e %M' -o "$W/time" "$@" >"$W/cmd.log" 2>&1; then
		echo "bench: failed: $*" >&2
		tail -n 20 "$W/cmd.log" >&2
		exit 1
	fi
	read -r _ T_RSS <"$W/time"
}

# Higher resolution than %e (10 ms): our own clock around the command.
run_once() {
	local t0 t1
	t0=$(date +%s%N)
	timed "$@"
	t1=$(date +%s%N)
	T_NS=$((t1 - t0))
}

printf '%-11s %9s %-20s %9s %9s %8s %8s %10s\n' workload frames tool "wall(s)" Mpps Gbit/s "RSS(MB)" "vs tcpdump"
printf '%s\n' "------------------------------------------------------------------------------------------"
for c in "${CASES[@]}"; do
	IFS='|' read -r name n gen capopts _ <<<"$c"
	n=$((n * SCALE / 100))
	in=$W/$name.pcap
	# shellcheck disable=SC2086
	"$PBGEN" --count "$n" $gen -o "$in"
	frame_bytes=$(($(stat -c %s "$in") - 24 - 16 * n))

	declare -A best_ns=()
	for tool in tcpdump pcap pcapng; do
		[ "$tool" != tcpdump ] || [ "$HAVE_TCPDUMP" = 1 ] || continue
		best=0
		rss=0
		for r in $(seq "$RUNS"); do
			rm -rf "$W/out"
			mkdir -p "$W/out"
			if [ "$tool" = tcpdump ]; then
				run_once tcpdump -r "$in" -w "$W/out/o.pcap"
				out=$W/out/o.pcap
			else
				cat >"$W/b.conf" <<EOF
node = { id = 1; name = "bench"; };
captures = ( { name = "in"; file = "$in"; rate = "max"; $capopts } );
dump = { file = "$W/out/o.$tool"; format = "$tool"; rotate_mb = 0; };
api = { enabled = false; };
EOF
				run_once "$PBD" -c "$W/b.conf" --exit-on-finish
				out=$(ls "$W/out"/*)
			fi
			# A fast but incomplete run must not count.
			verify "$in" "$out" "$tool"
			if [ "$best" = 0 ] || [ "$T_NS" -lt "$best" ]; then
				best=$T_NS
			fi
			[ "$T_RSS" -le "$rss" ] || rss=$T_RSS
		done
		best_ns[$tool]=$best
		label=$([ "$tool" = tcpdump ] && echo "tcpdump -r -w" || echo "packetbrokerd $tool")
		ratio="-"
		if [ "$tool" != tcpdump ] && [ -n "${best_ns[tcpdump]:-}" ]; then
			ratio=$(awk -v a="${best_ns[tcpdump]}" -v b="$best" 'BEGIN { printf "%.2fx", a / b }')
		fi
		awk -v name="$name" -v n="$n" -v label="$label" -v ns="$best" -v bytes="$frame_bytes" \
		    -v rss="$rss" -v ratio="$ratio" 'BEGIN {
			s = ns / 1e9
			printf "%-11s %9d %-20s %9.3f %9.3f %8.2f %8.1f %10s\n", name, n, label, s,
			    n / s / 1e6, bytes * 8 / s / 1e9, rss / 1024, ratio
		}'
	done
	unset best_ns
	rm -f "$in"
	rm -rf "$W/out"
done
echo
echo "best of $RUNS runs; wall = process start to exit incl. start-up and fsync;"
echo "Gbit/s counts frame bytes only; ratio > 1 = faster than tcpdump on the same file."

# In-process benchmarks of two engine parts (once moved out of the unit
# tests, where they cost make check 12 s): the DLQ store's spill and replay
# rates, in the bench directory, and the gap tracker's in-order rate.
echo
echo "DLQ store, $((200000 * SCALE / 100)) rows of 150 bytes (tests/bench/bench_dlq):"
TMPDIR=$W "$B/tests/bench/bench_dlq" $((200000 * SCALE / 100))
echo "gap tracker (tests/bench/bench_gaps):"
"$B/tests/bench/bench_gaps"

# The tunnel benchmark: its own inputs, so free this one's directory first.
if [ "${PB_BENCH_TUNNEL:-1}" != 0 ]; then
	rm -rf "$W"
	echo
	bash "$(dirname "$0")/bench_tunnel.sh" "$B"
fi

# The jetstream sink against jsbench (skips itself without nats-server).
if [ "${PB_BENCH_JETSTREAM:-1}" != 0 ]; then
	rm -rf "$W"
	echo
	bash "$(dirname "$0")/bench_jetstream.sh" "$B"
fi

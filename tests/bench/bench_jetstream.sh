#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The jetstream sink against jsbench (tests/bench/jsbench.c, the plain
# libnats async publisher) on one nats-server, R1, file store in
# PB_BENCH_DIR: one node replays a file (rate max, --exit-on-finish, which
# waits for every PubAck) into a jetstream sink; jsbench publishes the same
# number of bytes in messages of the sink's average size. Medians of
# PB_BENCH_RUNS (default 3) runs; 64 B, 1500 B and 9018 B frames. Prints
# records/s, payload Gbit/s of both, their ratio, and the node's CPU and
# peak RSS. Not part of `make check`.
#
#   bench_jetstream.sh [BUILDDIR]
set -eu

B=${1:-${top_builddir:-.}}
B=$(cd "$B" && pwd)
S=$(cd "$(dirname "$0")" && pwd)
PBD=$B/server/packetbrokerd
PBGEN=$B/tests/tools/pbgen
PBNATS=$B/tests/tools/pbnats
RUNS=${PB_BENCH_RUNS:-3}
TIME=/usr/bin/time
for x in "$PBD" "$PBGEN" "$PBNATS"; do
	[ -x "$x" ] || { echo "bench: $x not built (configure with libnats; make all check_PROGRAMS)" >&2; exit 1; }
done
command -v nats-server >/dev/null || { echo "bench: nats-server not installed" >&2; exit 1; }
[ -x "$TIME" ] || { echo "bench: $TIME missing (Debian package 'time')" >&2; exit 1; }

BASE=${PB_BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] && [ -w "$BASE" ] || BASE=${TMPDIR:-/tmp}
W=$(mktemp -d "$BASE/pbjsbench.XXXXXX")
NPID=
cleanup() {
	# set -e: a killed server's exit status must not skip the rm.
	[ -z "$NPID" ] || { kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck disable=SC2046
cc -O2 -o "$W/jsbench" "$S/jsbench.c" $(pkg-config --cflags --libs libnats)
PORT=$((20000 + RANDOM % 40000))
URL=nats://127.0.0.1:$PORT
nats-server -a 127.0.0.1 -p $PORT -js -sd "$W/store" >"$W/nats.log" 2>&1 &
NPID=$!
for _ in $(seq 100); do grep -q "Server is ready" "$W/nats.log" && break; sleep 0.1; done

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# name | frames | pbgen options
CASES=("64B|2000000|--size 64" "1500B|300000|--size 1500" "9018B|100000|--size 9018")
printf '%-6s %9s %12s %9s %12s %9s %6s %7s %8s\n' case records sink_rec/s sink_Gb/s \
    jsbench_msg/s js_Gb/s ratio cpu_s rss_MB
for c in "${CASES[@]}"; do
	IFS='|' read -r name n opts <<<"$c"
	# shellcheck disable=SC2086
	"$PBGEN" --count "$n" $opts -o "$W/in.pcap"
	: >"$W/sink.txt"
	: >"$W/js.txt"
	for r in $(seq "$RUNS"); do
		st=B${name}_$r
		cat >"$W/node.conf" <<CONF
node = { id = 99; name = "bench"; };
api = { enabled = false; };
state_dir = "$W/state";
captures = ( { name = "in"; file = "$W/in.pcap"; } );
dump = { name = "js"; jetstream = { servers = [ "$URL" ]; stream = "$st"; subject_prefix = "bench$r"; }; };
CONF
		"$TIME" -f "%U %S %M" -o "$W/time.txt" "$PBD" -c "$W/node.conf" -x >"$W/node.log" 2>&1
		t0=$(sed -n 's/^\([0-9T:.-]*\) .*running:.*/\1/p' "$W/node.log" | head -1)
		t1=$(sed -n 's/^\([0-9T:.-]*\) .*stopped:.*/\1/p' "$W/node.log" | head -1)
		secs=$(python3 -c "import datetime as d,sys;f=lambda s:d.datetime.fromisoformat(s);print((f(sys.argv[2])-f(sys.argv[1])).total_seconds())" "$t0" "$t1")
		chk=$("$PBNATS" "$URL" check "$st" "bench$r")
		recs=$(printf '%s\n' "$chk" | tr ' ' '\n' | sed -n 's/^records=//p')
		msgs=$(printf '%s\n' "$chk" | tr ' ' '\n' | sed -n 's/^messages=//p')
		bytes=$(printf '%s\n' "$chk" | tr ' ' '\n' | sed -n 's/^bytes=//p')
		[ "$recs" = "$n" ] || { echo "bench: $name run $r: the stream holds $recs of $n records" >&2; exit 1; }
		read -r u s rss <"$W/time.txt"
		echo "$secs $bytes $msgs $u $s $rss" >>"$W/sink.txt"
		"$PBNATS" "$URL" delete "$st"
		# jsbench: the same bytes in messages of the sink's average size.
		size=$((bytes / msgs))
		out=$("$W/jsbench" "$URL" "$msgs" "$size" 1)
		echo "$out" | sed -n 's/.*= \([0-9.]*\) msg\/s.*/\1/p' >>"$W/js.txt"
	done
	sec=$(awk '{print $1}' "$W/sink.txt" | median)
	bytes=$(awk '{print $2}' "$W/sink.txt" | median)
	msgs=$(awk '{print $3}' "$W/sink.txt" | median)
	cpu=$(awk '{print $4 + $5}' "$W/sink.txt" | median)
	rss=$(awk '{print int($6 / 1024)}' "$W/sink.txt" | median)
	jmps=$(median <"$W/js.txt")
	awk -v name="$name" -v n="$n" -v sec="$sec" -v bytes="$bytes" -v msgs="$msgs" -v jmps="$jmps" \
	    -v cpu="$cpu" -v rss="$rss" 'BEGIN {
		sgb = bytes * 8 / sec / 1e9; jgb = jmps * (bytes / msgs) * 8 / 1e9
		printf "%-6s %9d %12.0f %9.2f %12.0f %9.2f %6.2f %7.2f %8d\n", name, n, n / sec, sgb,
		    jmps, jgb, sgb / jgb, cpu, rss }'
done

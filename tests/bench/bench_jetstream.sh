#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The jetstream sink against jsbench (tests/bench/jsbench.c, the plain
# libnats async publisher), file store in PB_BENCH_DIR, R1 on one
# nats-server and R3 on a 3-node cluster on loopback: one node replays a file (rate max, --exit-on-finish, which
# waits for every PubAck) into a jetstream sink; jsbench publishes the same
# number of bytes in messages of the sink's average size. Medians of
# PB_BENCH_RUNS (default 5: one noisy run of 3 decided a median here) runs; 64 B, 1500 B and 9018 B frames. Prints
# records/s, payload Gbit/s of both, their ratio, the sink's average message
# size (msg_KB: jsbench sends messages of that size, which is not batch_kb:
# a batch waiting for a PubAck grows up to the server's max_payload), and the
# node's CPU and peak RSS. Not part of `make check`; `make bench` runs it after bench.sh.
# Without nats-server or libnats it says so and exits 0 (a skip).
# spread% = (slowest - fastest) / median of the runs.
# Both clocks start with the stream in place: jsbench creates its stream
# before its clock starts, so the bench creates the sink's (pbnats create,
# the sink's settings) before the node starts with create = false. An R3
# stream takes 0.3-0.5 s to create here, a third of a 64-byte run.
# The node's time runs from its "running" log line (connected, sources
# open) to "stopped" (every PubAck in).
# Each run starts after a sync and with no stream of an earlier run left
# behind, so that no run pays for another's disk writes.
# PB_BENCH_REPLICAS="1 3" picks the replica counts, PB_BENCH_SCALE (percent,
# default 100) scales the frame counts, PB_BENCH_CASES="64B 9018B" picks
# the workloads.
#
#   bench_jetstream.sh [BUILDDIR]
set -eu

B=${1:-${top_builddir:-.}}
B=$(cd "$B" && pwd)
S=$(cd "$(dirname "$0")" && pwd)
PBD=$B/server/packetbrokerd
PBGEN=$B/tests/tools/pbgen
PBNATS=$B/tests/tools/pbnats
RUNS=${PB_BENCH_RUNS:-5}
REPLICAS=${PB_BENCH_REPLICAS:-1 3}
SCALE=${PB_BENCH_SCALE:-100}
TIME=/usr/bin/time
command -v nats-server >/dev/null || { echo "bench_jetstream: skipped, nats-server not installed"; exit 0; }
pkg-config --exists libnats || { echo "bench_jetstream: skipped, libnats-dev not installed"; exit 0; }
[ -x "$PBNATS" ] || { echo "bench_jetstream: skipped, $PBNATS not built (configure found no libnats)"; exit 0; }
for x in "$PBD" "$PBGEN"; do
	[ -x "$x" ] || { echo "bench: $x not built (make all check_PROGRAMS)" >&2; exit 1; }
done
[ -x "$TIME" ] || { echo "bench: $TIME missing (Debian package 'time')" >&2; exit 1; }

BASE=${PB_BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] && [ -w "$BASE" ] || BASE=${TMPDIR:-/tmp}
W=$(mktemp -d "$BASE/pbjsbench.XXXXXX")
NPIDS=
stop_servers() {
	# set -e: a killed server's exit status must not skip the rm.
	for p in $NPIDS; do kill "$p" 2>/dev/null || true; done
	for p in $NPIDS; do wait "$p" 2>/dev/null || true; done
	NPIDS=
}
cleanup() {
	stop_servers
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck disable=SC2046
cc -O2 -o "$W/jsbench" "$S/jsbench.c" $(pkg-config --cflags --libs libnats)
# start_servers R: one server (R1) or a 3-node cluster (R3, as
# ../shared/bench/nats_cluster.sh) on loopback; sets URL and URLS (config list).
start_servers() {
	local n=$1 base=$((20000 + RANDOM % 30000)) i j routes
	rm -rf "$W/store"
	URLS=
	for i in $(seq 0 $((n - 1))); do
		mkdir -p "$W/store/n$i"
		routes=
		for j in $(seq 0 $((n - 1))); do
			[ "$j" = "$i" ] || routes="$routes,nats://127.0.0.1:$((base + 100 + j))"
		done
		{
			echo "server_name: n$i"
			echo "listen: 127.0.0.1:$((base + i))"
			echo "jetstream { store_dir: \"$W/store/n$i\" }"
			[ "$n" = 1 ] || echo "cluster { name: pbbench; listen: 127.0.0.1:$((base + 100 + i)); routes: [${routes#,}] }"
		} >"$W/n$i.conf"
		nats-server -c "$W/n$i.conf" >"$W/n$i.log" 2>&1 &
		NPIDS="$NPIDS $!"
		URLS="$URLS, \"nats://127.0.0.1:$((base + i))\""
	done
	URLS=${URLS#, }
	URL=nats://127.0.0.1:$base
	# Ready = JetStream can create a stream of n replicas (the cluster has a
	# meta leader); pbnats check fails until the stream exists, so probe
	# with jsbench itself on a tiny stream.
	for i in $(seq 0 $((n - 1))); do
		for _ in $(seq 300); do grep -q "Server is ready" "$W/n$i.log" && break; sleep 0.1; done
	done
	for _ in $(seq 60); do
		"$W/jsbench" "$URL" 1 16 "$n" >/dev/null 2>&1 && return 0
		sleep 1
	done
	echo "bench: the $n-node nats cluster did not become ready" >&2
	exit 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# name | frames | pbgen options
CASES=("64B|2000000|--size 64" "1500B|300000|--size 1500" "9018B|100000|--size 9018")
printf '%-3s %-6s %9s %12s %9s %8s %7s %12s %9s %8s %6s %7s %8s\n' rep case records sink_rec/s \
    sink_Gb/s spread% msg_KB jsbench_msg/s js_Gb/s spread% ratio cpu_s rss_MB
for rep in $REPLICAS; do
start_servers "$rep"
for c in "${CASES[@]}"; do
	IFS='|' read -r name n opts <<<"$c"
	case " ${PB_BENCH_CASES:-$name} " in *" $name "*) ;; *) continue ;; esac
	n=$((n * SCALE / 100))
	# shellcheck disable=SC2086
	"$PBGEN" --count "$n" $opts -o "$W/in.pcap"
	: >"$W/sink.txt"
	: >"$W/js.txt"
	for r in $(seq "$RUNS"); do
		st=B${name}_$r
		"$PBNATS" "$URL" create "$st" "$rep" "bench$r.>" ||
		    { echo "bench: cannot create stream $st" >&2; exit 1; }
		cat >"$W/node.conf" <<CONF
node = { id = 99; name = "bench"; };
api = { enabled = false; };
state_dir = "$W/state";
captures = ( { name = "in"; file = "$W/in.pcap"; } );
dump = { name = "js"; jetstream = { servers = [ $URLS ]; stream = "$st"; subject_prefix = "bench$r"; replicas = $rep; create = false; }; };
CONF
		sync
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
		sync
		out=$("$W/jsbench" "$URL" "$msgs" "$size" "$rep")
		echo "$out" | sed -n 's/.*= \([0-9.]*\) msg\/s.*/\1/p' >>"$W/js.txt"
		# jsbench leaves its stream "PB" behind (it deletes it when it
		# starts): its GBs of dirty pages would be written back during
		# the next run of the node.
		"$PBNATS" "$URL" delete PB
	done
	sec=$(awk '{print $1}' "$W/sink.txt" | median)
	# spread: (slowest - fastest) / median of the run times, percent
	spread=$(awk '{print $1}' "$W/sink.txt" | sort -g | awk -v m="$sec" '
		NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f", (hi - lo) / m * 100 }')
	bytes=$(awk '{print $2}' "$W/sink.txt" | median)
	msgs=$(awk '{print $3}' "$W/sink.txt" | median)
	cpu=$(awk '{print $4 + $5}' "$W/sink.txt" | median)
	rss=$(awk '{print int($6 / 1024)}' "$W/sink.txt" | median)
	jmps=$(median <"$W/js.txt")
	jspread=$(sort -g "$W/js.txt" | awk -v m="$jmps" 'NR == 1 { lo = $1 } { hi = $1 }
		END { printf "%.0f", (hi - lo) / m * 100 }')
	awk -v rep="R$rep" -v name="$name" -v n="$n" -v sec="$sec" -v bytes="$bytes" -v msgs="$msgs" \
	    -v jmps="$jmps" -v spread="$spread" -v jspread="$jspread" -v cpu="$cpu" -v rss="$rss" 'BEGIN {
		sgb = bytes * 8 / sec / 1e9; jgb = jmps * (bytes / msgs) * 8 / 1e9
		printf "%-3s %-6s %9d %12.0f %9.2f %8s %7.0f %12.0f %9.2f %8s %6.2f %7.2f %8d\n", rep,
		    name, n, n / sec, sgb, spread, bytes / msgs / 1024, jmps, jgb, jspread, sgb / jgb,
		    cpu, rss }'
done
stop_servers
done

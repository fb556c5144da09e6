#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# REST API under load while the tunnel forwards at full speed, on 127.0.0.1:
#
#   packetbrokerd edge (file source looping at PB_BENCH_RATE) ──TCP──►
#   packetbrokerd collector (pcap dump in PB_BENCH_DIR, rotated, 2 files kept)
#
# Forwarding throughput is the collector's written records per second
# (GET /api/v1/sinks, sampled at the start and end of each window). Windows
# of PB_BENCH_SECONDS (default 10) alternate: quiet, then loaded with two
# wrk processes hammering the edge's GET /api/v1/peers and GET /metrics
# (2 connections each, under api.max_connections_per_ip), PB_BENCH_ROUNDS
# times (default 2). PB_BENCH_RATE: records/s of the stream (default
# 1000000, a benchmark rate the pipeline sustains with CPU to spare on
# 2 cores; "max" saturates every core, and then wrk's own CPU use shows as
# a drop however cheap the API is). Prints the rates, the drop under load, wrk's
# requests/s and latency, and fails when any request failed (socket
# errors, timeouts, non-2xx) or the drop is 10 % or more. Not part of make
# check; needs wrk (Debian package). Usage: bench_api.sh [BUILDDIR]
set -eu

B=${1:-${top_builddir:-.}}
B=$(cd "$B" && pwd)
PBD=$B/server/packetbrokerd
PBGEN=$B/tests/tools/pbgen
SECS=${PB_BENCH_SECONDS:-10}
RATE=${PB_BENCH_RATE:-1000000}
ROUNDS=${PB_BENCH_ROUNDS:-2}
DIR=$(mktemp -d "${PB_BENCH_DIR:-/dev/shm}/pb-bench-api.XXXXXX")
for t in wrk curl jq; do
	command -v "$t" >/dev/null || { echo "bench_api: '$t' not installed" >&2; exit 2; }
done
[ -x "$PBD" ] && [ -x "$PBGEN" ] || { echo "bench_api: build first ($B)" >&2; exit 2; }
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$DIR"
}
trap cleanup EXIT
port() { echo $((20000 + RANDOM % 40000)); }
TP=$(port) CA=$(port) EA=$(port)

"$PBGEN" --count 200000 --size 64 -o "$DIR/in.pcap" >/dev/null
mkdir -p "$DIR/col" "$DIR/edge"
cat >"$DIR/col/node.conf" <<CONF
node = { id = 2; name = "col"; };
api = { listen = "127.0.0.1:$CA"; };
state_dir = "state";
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcap"; rotate_mb = 256; max_files = 2; };
CONF
cat >"$DIR/edge/node.conf" <<CONF
node = { id = 1; name = "edge"; };
api = { listen = "127.0.0.1:$EA"; };
state_dir = "state";
captures = ( { name = "in"; file = "$DIR/in.pcap"; loop = 0; rate = $([ "$RATE" = max ] && echo '"max"' || echo "$RATE"); } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
CONF
"$PBD" -c "$DIR/col/node.conf" >"$DIR/col.log" 2>&1 &
pids+=($!)
sleep 0.5
"$PBD" -c "$DIR/edge/node.conf" >"$DIR/edge.log" 2>&1 &
pids+=($!)
written() {
	curl -s --max-time 5 "http://127.0.0.1:$CA/api/v1/sinks" | jq -er '.sinks[0].packets'
}
for i in $(seq 50); do
	n=$(written 2>/dev/null || echo 0)
	[ "$n" -gt 100000 ] && break
	sleep 0.2
done
[ "${n:-0}" -gt 100000 ] || { echo "bench_api: the stream did not start" >&2; tail "$DIR"/*.log; exit 1; }

# window LOADED: records/s written by the collector over SECS seconds.
window() {
	local a b t0 t1 w1 w2
	if [ "$1" = 1 ]; then
		wrk -t1 -c2 -d"${SECS}s" --latency "http://127.0.0.1:$EA/api/v1/peers" >"$DIR/wrk.peers" 2>&1 &
		w1=$!
		wrk -t1 -c2 -d"${SECS}s" --latency "http://127.0.0.1:$EA/metrics" >"$DIR/wrk.metrics" 2>&1 &
		w2=$!
	fi
	t0=$(date +%s%N)
	a=$(written)
	sleep "$SECS"
	b=$(written)
	t1=$(date +%s%N)
	[ "$1" = 1 ] && wait "$w1" "$w2"
	echo $(((b - a) * 1000000000 / (t1 - t0)))
}
wrkline() { # FILE: "N req/s, p50 X, p99 Y, errors E"
	local f=$1 rps lat50 lat99 errs non2xx
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
	lat50=$(awk '$1 == "50%" {print $2}' "$f")
	lat99=$(awk '$1 == "99%" {print $2}' "$f")
	errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$f")
	echo "${rps:-?} req/s, p50 ${lat50:-?}, p99 ${lat99:-?}, socket errors ${errs:-0}, non-2xx ${non2xx:-0}"
	[ -n "$rps" ] && [ "${errs:-0}" = 0 ] && [ "${non2xx:-0}" = 0 ]
}

failed=0
quiet_sum=0 loaded_sum=0
echo "bench_api: 64-byte records edge -> collector at rate $RATE, ${SECS}s windows, $ROUNDS rounds"
for r in $(seq "$ROUNDS"); do
	q=$(window 0)
	l=$(window 1)
	quiet_sum=$((quiet_sum + q))
	loaded_sum=$((loaded_sum + l))
	printf 'round %d: quiet %d rec/s, loaded %d rec/s\n' "$r" "$q" "$l"
	printf '  wrk /api/v1/peers: %s\n' "$(wrkline "$DIR/wrk.peers" || echo FAILED)"
	wrkline "$DIR/wrk.peers" >/dev/null || failed=1
	printf '  wrk /metrics:      %s\n' "$(wrkline "$DIR/wrk.metrics" || echo FAILED)"
	wrkline "$DIR/wrk.metrics" >/dev/null || failed=1
done
drop=$(awk -v q="$quiet_sum" -v l="$loaded_sum" 'BEGIN { printf "%.1f", (q - l) * 100 / q }')
echo "throughput: quiet $((quiet_sum / ROUNDS)) rec/s, under API load $((loaded_sum / ROUNDS)) rec/s, drop $drop %"
awk -v d="$drop" 'BEGIN { exit !(d < 10) }' || { echo "bench_api: drop of $drop % (limit 10 %)"; failed=1; }
[ "$failed" = 0 ] && echo "bench_api: PASS" || echo "bench_api: FAIL"
exit "$failed"

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Edge peak RSS while it replays a capture file into a collector that keeps
# up (both on 127.0.0.1, the setup of bench_tunnel.sh):
#
#   bench_edge_rss.sh PACKETBROKERD IN.pcap FRAMES [WINDOW_MB] [BUFFER_MB]
#
# Prints one line: wall seconds, edge and collector peak RSS in MB. Peak RSS
# is getrusage's ru_maxrss (time -f %M), the counter /proc/PID/status shows
# as VmHWM, read once the process has exited. WINDOW_MB / BUFFER_MB set the
# edge's resend.window_mb / resend.buffer_mb (empty: the defaults). The
# collector must have written FRAMES records, else the run fails.
set -eu

PBD=$1 IN=$2 N=$3 WIN=${4:-} BUF=${5:-}
TIME=/usr/bin/time
W=$(mktemp -d "${PB_BENCH_DIR:-/dev/shm}/pbrss.XXXXXX")
CPID=
cleanup() {
	# shellcheck disable=SC2046 # one pid per word
	[ -z "$CPID" ] || kill -TERM $(ps -o pid= --ppid "$CPID") "$CPID" 2>/dev/null || true
	[ -z "$CPID" ] || wait "$CPID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

port() { echo $((20000 + RANDOM % 40000)); }
TP=$(port) AP=$(port)
mkdir -p "$W/cs" "$W/es"
cat >"$W/c.conf" <<EOF
node = { id = 2; name = "rss-collector"; };
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "$W/out.pcap"; format = "pcap"; rotate_mb = 0; };
state_dir = "$W/cs";
api = { listen = "127.0.0.1:$AP"; };
EOF
"$TIME" -f %M -o "$W/c.rss" "$PBD" -c "$W/c.conf" >"$W/c.log" 2>&1 &
CPID=$!
for _ in $(seq 200); do
	curl -sf --max-time 1 "http://127.0.0.1:$AP/api/v1/status" >/dev/null 2>&1 && break
	sleep 0.05
done
RS="timeout = 60;${WIN:+ window_mb = $WIN;}${BUF:+ buffer_mb = $BUF;}"
cat >"$W/e.conf" <<EOF
node = { id = 1; name = "rss-edge"; };
captures = ( { name = "in"; file = "$IN"; rate = "max"; } );
peers = ( { name = "collector"; address = "127.0.0.1"; port = $TP; } );
resend = { $RS };
state_dir = "$W/es";
api = { enabled = false; };
EOF
t0=$(date +%s%N)
"$TIME" -f %M -o "$W/e.rss" timeout 300 "$PBD" -c "$W/e.conf" -x >"$W/e.log" 2>&1 ||
	{ tail -n 20 "$W/e.log" >&2; exit 1; }
t1=$(date +%s%N)
got=0
for _ in $(seq 600); do
	got=$(curl -sf "http://127.0.0.1:$AP/api/v1/sinks" | jq -r '.sinks[0].packets // 0')
	[ "$got" -lt "$N" ] || break
	sleep 0.05
done
# The daemon, not time (which would then not write its figure).
kill -TERM "$(ps -o pid= --ppid "$CPID" | tr -d ' ' | head -n 1)"
wait "$CPID" || true
CPID=
[ "$got" -ge "$N" ] || { echo "INCOMPLETE: collector wrote $got of $N" >&2; exit 1; }
# time may add "Command terminated by signal": the number is the last line
# of digits.
kb() { grep -E '^[0-9]+$' "$1" | tail -n 1; }
awk -v ns=$((t1 - t0)) -v e="$(kb "$W/e.rss")" -v c="$(kb "$W/c.rss")" \
    -v w="${WIN:-default}" 'BEGIN {
	printf "window %-7s wall %6.2f s  edge peak RSS %6.1f MB  collector %6.1f MB\n",
	    w, ns / 1e9, e / 1024, c / 1024 }'

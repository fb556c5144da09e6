#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Live demo (`make demo`): an edge and a collector talking through the tunnel.
#
#   edge (demo/edge.conf): replays data/sample.pcap forever at its original
#   pace, API on 127.0.0.1:8081
#     ──TCP 127.0.0.1:7152──►
#   collector (demo/collector.conf): pcapng files in /var/tmp/packetbroker-demo/,
#   API on 127.0.0.1:8080
#
# Shows both APIs while they run, stops both gracefully (edge first, so the
# collector acknowledges what is still in flight), then reads the collector's
# output back with tshark. DEMO_SECONDS=0 runs until Ctrl-C.
#   run.sh [BUILDDIR]
set -u
builddir=${1:-.}
here=$(cd "$(dirname "$0")" && pwd)
pbd=$builddir/server/packetbrokerd
seconds=${DEMO_SECONDS:-20}
capi=http://127.0.0.1:8080/api/v1
eapi=http://127.0.0.1:8081/api/v1
out=/var/tmp/packetbroker-demo
cpid=
epid=

say() { echo "demo: $*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

[ -x "$pbd" ] || die "$pbd not built (run make first)"
for t in curl jq; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' not installed (sh deps/install.sh)"
done
case $seconds in ''|*[!0-9]*) die "DEMO_SECONDS must be a number of seconds" ;; esac

# The ports must be free: a clear message beats a bind error in a log.
busy=
for p in 7152 8080 8081; do
	if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htln "sport = :$p")" ]; then
		busy="$busy $p"
	elif curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$p/" 2>/dev/null; then
		busy="$busy $p"
	fi
done
[ -z "$busy" ] || die "TCP port(s)$busy already in use (another demo or packetbrokerd running?)"

# A fresh start: old output, custody state and dead-letter queue go.
mkdir -p "$out" || die "cannot create $out"
rm -rf "$out"/demo-*.pcapng "$out"/edge-state "$out"/collector-state "$out"/edge-dlq.db*

# stop PID NAME: SIGTERM, then up to 15 s for a graceful exit, then SIGKILL;
# says so when the daemon did not exit cleanly (crashed, killed, error).
stop() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 150 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		echo "demo: $2 did not stop within 15 s, killing it" >&2
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
	rc=$?
	[ $rc = 0 ] || echo "demo: $2 exited with status $rc (see $out/$2.log)" >&2
	return 0
}

cleanup() {
	trap - EXIT INT TERM
	stop "$epid" edge
	stop "$cpid" collector
	epid=
	cpid=
}
trap cleanup EXIT
trap 'echo; cleanup; exit 130' INT TERM

# wait_api URL PID NAME LOG: until the API answers, at most 10 s.
wait_api() {
	i=0
	while [ $i -lt 100 ]; do
		curl -sf --max-time 1 -o /dev/null "$1/status" && return 0
		if ! kill -0 "$2" 2>/dev/null; then
			tail -n 20 "$4" >&2
			die "$3 exited at start-up (log above)"
		fi
		sleep 0.1
		i=$((i + 1))
	done
	tail -n 20 "$4" >&2
	die "$3: no API at $1 after 10 s"
}

"$pbd" -c "$here/collector.conf" >"$out/collector.log" 2>&1 &
cpid=$!
wait_api "$capi" "$cpid" collector "$out/collector.log"
say "collector running (pid $cpid): listening on 127.0.0.1:7152, API $capi"

"$pbd" -c "$here/edge.conf" >"$out/edge.log" 2>&1 &
epid=$!
wait_api "$eapi" "$epid" edge "$out/edge.log"
say "edge running (pid $epid): replaying data/sample.pcap to the collector, API $eapi"
say "logs: $out/edge.log, $out/collector.log; try: curl -s $eapi/peers | jq ."
say "dashboards: edge http://127.0.0.1:8081/  collector http://127.0.0.1:8080/ (open in a browser)"
echo

i=0
while kill -0 "$epid" 2>/dev/null && kill -0 "$cpid" 2>/dev/null; do
	echo "--- t=${i}s"
	curl -s --max-time 2 "$eapi/peers" | jq -c '.peers[] |
	    {edge_peer: .name, state, records_sent, records_acked, in_flight, to_dlq, rtt_ms}' 2>/dev/null
	curl -s --max-time 2 "$capi/peers" | jq -c '.peers[] |
	    {collector_upstream: .name, node: .node.name, state, records_received, link_lost}' 2>/dev/null
	curl -s --max-time 2 "$capi/gaps" | jq -c '.totals |
	    {collector_gaps: "totals", streams, received, missing_total, gap_events}' 2>/dev/null
	curl -s --max-time 2 "$capi/sinks" | jq -c '.sinks[] |
	    {collector_sink: .name, state, packets, bytes_written, files_opened}' 2>/dev/null
	[ "$seconds" -gt 0 ] && [ "$i" -ge "$seconds" ] && break
	# In the background: a trapped Ctrl-C interrupts wait at once.
	sleep 4 &
	wait $!
	i=$((i + 4))
done
kill -0 "$epid" 2>/dev/null || { tail -n 20 "$out/edge.log" >&2; die "the edge stopped unexpectedly"; }
kill -0 "$cpid" 2>/dev/null || { tail -n 20 "$out/collector.log" >&2; die "the collector stopped unexpectedly"; }

echo
say "stopping the edge, then the collector (SIGTERM, graceful)"
stop "$epid" edge
epid=
stop "$cpid" collector
cpid=
tail -n 3 "$out/edge.log" | sed 's/^/  edge: /'
tail -n 3 "$out/collector.log" | sed 's/^/  collector: /'

echo
say "collector output files:"
ls -l "$out"/demo-*.pcapng 2>/dev/null || die "the collector wrote no file (see $out/collector.log)"
# shellcheck disable=SC2012
first=$(ls "$out"/demo-*.pcapng | head -n 1)
if command -v tshark >/dev/null 2>&1; then
	say "first frames of $first (frame.comment: origin node/source/seq, hops, link):"
	tshark -r "$first" -c 5 -T fields -e frame.number -e frame.interface_name \
	    -e frame.len -e frame.comment 2>/dev/null
else
	say "tshark not installed: open $first in Wireshark to see the per-frame comments"
fi

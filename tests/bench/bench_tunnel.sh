#!/bin/bash
# shellcheck disable=SC2012
# SPDX-License-Identifier: Apache-2.0
# Tunnel benchmark, node to node over TCP on 127.0.0.1:
#
#   packetbrokerd edge (file source, rate max, -x) ──TCP──► packetbrokerd
#   collector (listen, pcap dump)
#
# side by side, in the same run, with what users run today:
#
#   tcpdump -r in.pcap -w - | socat -b 1048576 - TCP:127.0.0.1:PORT
#   socat -b 1048576 TCP-LISTEN:PORT,reuseaddr - | tcpdump -r - -w out.pcap
#
# for 64-byte, 1500-byte and 9018-byte + 2 Metamako trailer frames, then the
# edge's dead-letter queue: records/s spilled into it (resend.timeout 0.5 s,
# no collector) and replayed from it (POST /api/v1/dlq/replay) once a
# collector is up. Best of N runs; every output is checked with pbcmp and an
# incomplete run fails the benchmark. Not part of `make check`; bench.sh
# runs it at the end (`make bench`), or alone:
#
#   bench_tunnel.sh [BUILDDIR]
# Environment: PB_BENCH_DIR (default /dev/shm), PB_BENCH_RUNS (default 3),
# PB_BENCH_SCALE (percent of the default frame counts, default 100),
# PB_BENCH_TUNNEL_FORMAT (collector dump: pcap (default) or pcapng),
# PB_BENCH_DLQ_RECORDS (default 200000 x scale), PB_BENCH_RESEND_MB (edge
# resend.buffer_mb) and PB_BENCH_DUMP_MB (collector dump buffer_mb): unset =
# the daemon's defaults, which is what users get.
#
# Clocks:
# - pipeline: from starting the sender until the receiving tcpdump exited
#   (the listener is started, and listening, before the clock starts).
# - packetbrokerd: the collector is started first and its API answers; the
#   clock runs from starting the edge until the edge exits. With -x the edge
#   exits only once every record was acknowledged by the collector, which
#   acknowledges a record only after writing it to its file descriptor, so
#   the edge's wall time is the end-to-end time. Afterwards the collector's
#   /api/v1/sinks must show every record written ("lag" is how long that
#   took after the edge exited, expected ~0), then it gets SIGTERM and its
#   file is compared with the input.
# - DLQ spill: from the first sample of GET /api/v1/dlq that shows a
#   committed row to the first that shows them all (50 ms polling). With the
#   default 64 MiB DLQ write queue, more than ~265k 64-byte records expiring
#   at once overflow it (refused_queue) and the run fails.
# - DLQ replay: from POST /api/v1/dlq/replay until GET /dlq/replays/{id}
#   says "done" (every replayed record acknowledged and deleted).
# The SIGTERM'd collector's own write-out is not timed (it has already
# written everything when the sink count matches).
set -eu

B=${1:-${top_builddir:-.}}
B=$(cd "$B" && pwd)
PBD=$B/server/packetbrokerd
PBGEN=$B/tests/tools/pbgen
PBCMP=$B/tests/tools/pbcmp
RUNS=${PB_BENCH_RUNS:-3}
SCALE=${PB_BENCH_SCALE:-100}
FORMAT=${PB_BENCH_TUNNEL_FORMAT:-pcap}
DLQ_N=${PB_BENCH_DLQ_RECORDS:-$((200000 * SCALE / 100))}
RESEND_MB=${PB_BENCH_RESEND_MB:-}
DUMP_MB=${PB_BENCH_DUMP_MB:-}
RESEND_OPT=${RESEND_MB:+ buffer_mb = $RESEND_MB;}
DUMP_OPT=${DUMP_MB:+ buffer_mb = $DUMP_MB;}
TIME=/usr/bin/time
LIMIT=120       # seconds any one process may run
TARGET=100000   # DLQ records/s

die() {
	echo "bench_tunnel: $*" >&2
	exit 1
}

for x in "$PBD" "$PBGEN" "$PBCMP"; do
	[ -x "$x" ] || die "$x not built (make all check_PROGRAMS)"
done
[ -x "$TIME" ] || die "$TIME missing (Debian package 'time')"
for t in socat tcpdump curl jq ss timeout; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' not installed"
done
case $FORMAT in pcap|pcapng) ;; *) die "PB_BENCH_TUNNEL_FORMAT: pcap or pcapng" ;; esac

BASE=${PB_BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] && [ -w "$BASE" ] || BASE=${TMPDIR:-/tmp}
W=$(mktemp -d "$BASE/pbtunnel.XXXXXX")
PIDS=()

# tree PID: PID's descendants, deepest first (time -> timeout -> daemon).
tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		tree "$c"
		echo "$c"
	done
}

cleanup() {
	local pid i
	set +e
	for pid in "${PIDS[@]}"; do
		# The daemons first: killing /usr/bin/time would orphan them.
		for i in $(tree "$pid"); do
			kill -TERM "$i" 2>/dev/null
		done
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Largest case: its input and two outputs (pipeline, collector) at once.
need=$((100000 * SCALE * 9082 * 3 / 100000000))
avail=$(df -Pm "$W" | awk 'NR == 2 { print $4 }')
[ "$avail" -ge $((need + 200)) ] ||
	die "$W has $avail MB free, needs about $((need + 200)) MB"

now_ns() { date +%s%N; }

# free_port VAR: a TCP port nobody listens on and not handed out before.
USED_PORTS=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		case $USED_PORTS in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htan "sport = :$p")" ]; then
			USED_PORTS="$USED_PORTS$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free TCP port found"
}

# wait_listen PORT PID: until PORT listens; fails if PID died or 10 s passed.
wait_listen() {
	for _ in $(seq 200); do
		[ -z "$(ss -Htln "sport = :$1")" ] || return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# get URL: the JSON body, or nothing.
get() { curl -sf --max-time 2 "$1" 2>/dev/null || true; }

# wait_api URL PID LOG: until URL/status answers.
wait_api() {
	for _ in $(seq 200); do
		if curl -sf --max-time 1 "$1/status" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || { tail -n 20 "$3" >&2; die "daemon died at start-up"; }
		sleep 0.05
	done
	tail -n 20 "$3" >&2
	die "API $1 did not answer within 10 s"
}

# stop_daemon TIMEPID: SIGTERM to the daemon under TIMEPID, bounded wait.
stop_daemon() {
	local tp=$1 c
	c=$(ps -o pid= --ppid "$tp" | tr -d ' ' | head -n 1)
	[ -z "$c" ] || kill -TERM "$c" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$tp" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$tp" 2>/dev/null && die "daemon did not stop within 15 s of SIGTERM"
	wait "$tp" || die "daemon exited with an error"
}

# rss FILE: peak RSS in KB as written by time -f %M (last line: time may
# also write "Command exited with non-zero status").
rss() { tail -n 1 "$1" 2>/dev/null | tr -cd '0-9'; }

maxv() { [ "${1:-0}" -ge "${2:-0}" ] && echo "${1:-0}" || echo "${2:-0}"; }

mb() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

# verify IN OUT: the output must hold every frame, the same frames.
verify() {
	local r
	r=$("$PBCMP" --count-only "$1" "$2" 2>&1) ||
		die "INCOMPLETE output $2 ($3): $r"
	r=$("$PBCMP" --multiset "$1" "$2" 2>&1) ||
		die "output $2 ($3) differs from the input: $r"
}

# ---- pipeline: tcpdump | socat ──TCP──► socat | tcpdump ----

# run_pipeline IN N: T_NS, and peak RSS (KB) of each process in R_*.
run_pipeline() {
	local in=$1 port rx t0 t1
	rm -rf "$W/out" && mkdir -p "$W/out"
	free_port port
	# bind=127.0.0.1: the benchmark's traffic stays on loopback.
	(
		"$TIME" -f %M -o "$W/rs.rss" timeout -k 5 "$LIMIT" \
		    socat -b 1048576 "TCP-LISTEN:$port,reuseaddr,bind=127.0.0.1" - |
		"$TIME" -f %M -o "$W/rt.rss" timeout -k 5 "$LIMIT" \
		    tcpdump -r - -w "$W/out/o.pcap"
	) >"$W/rx.log" 2>&1 &
	rx=$!
	PIDS+=("$rx")
	wait_listen "$port" "$rx" || { cat "$W/rx.log" >&2; die "socat did not listen on $port"; }
	t0=$(now_ns)
	if ! { "$TIME" -f %M -o "$W/ts.rss" timeout -k 5 "$LIMIT" tcpdump -r "$in" -w - |
	    "$TIME" -f %M -o "$W/ss.rss" timeout -k 5 "$LIMIT" \
	    socat -b 1048576 - "TCP:127.0.0.1:$port"; } 2>"$W/tx.log"; then
		cat "$W/tx.log" >&2
		die "pipeline sender failed"
	fi
	wait "$rx" || { cat "$W/rx.log" >&2; die "pipeline receiver failed"; }
	t1=$(now_ns)
	T_NS=$((t1 - t0))
	R_TS=$(rss "$W/ts.rss") R_SS=$(rss "$W/ss.rss")
	R_RS=$(rss "$W/rs.rss") R_RT=$(rss "$W/rt.rss")
	verify "$in" "$W/out/o.pcap" pipeline
}

# ---- packetbrokerd: edge ──TCP──► collector ----

# collector_start NAME TUNNELPORT APIPORT OUTFILE: C_TPID (time's pid).
collector_start() {
	local d=$W/$1
	mkdir -p "$d/state"
	cat >"$d/c.conf" <<EOF
node = { id = 2; name = "bench-collector"; };
listen = { address = "127.0.0.1"; port = $2; };
dump = { file = "$4"; format = "$FORMAT"; rotate_mb = 0;$DUMP_OPT };
state_dir = "$d/state";
api = { listen = "127.0.0.1:$3"; };
EOF
	"$TIME" -f %M -o "$d/c.rss" timeout -k 5 "$LIMIT" "$PBD" -c "$d/c.conf" >"$d/c.log" 2>&1 &
	C_TPID=$!
	PIDS+=("$C_TPID")
	wait_api "http://127.0.0.1:$3/api/v1" "$C_TPID" "$d/c.log"
	wait_listen "$2" "$C_TPID" || { tail -n 20 "$d/c.log" >&2; die "collector not listening on $2"; }
}

# sink_packets APIPORT: records the collector's first sink has written.
sink_packets() {
	get "http://127.0.0.1:$1/api/v1/sinks" | jq -r '.sinks[0].packets // 0' 2>/dev/null || echo 0
}

# wait_sink APIPORT N: until the collector wrote N records (bounded); on
# failure shows what the collector says it received and wrote.
wait_sink() {
	local got=0 api=http://127.0.0.1:$1/api/v1
	for _ in $(seq 600); do
		got=$(sink_packets "$1")
		[ "${got:-0}" -lt "$2" ] || return 0
		sleep 0.05
	done
	echo "bench_tunnel: collector sink: $(get "$api/sinks" | jq -c '.sinks[0] |
	    {packets, write_errors, backlog_events}')" >&2
	echo "bench_tunnel: collector peers: $(get "$api/peers" | jq -c '[.peers[] |
	    {records_received, custody_seq, dlq_announced, link_lost}]')" >&2
	die "INCOMPLETE: the collector wrote $got of $2 records after 30 s"
}

# check_collector APIPORT [warn]: the collector's accounting says nothing
# was lost and no sequence number is missing. warn: a warning only (the
# output file is what counts), listed at the end.
WARNS=()
check_collector() {
	local api=http://127.0.0.1:$1/api/v1 lost missing msg=
	lost=$(get "$api/peers" | jq '[.peers[] | (.link_lost // 0)] | add // 0')
	missing=$(get "$api/gaps" | jq '.totals.missing_total // 0')
	[ "${lost:-0}" = 0 ] || msg="collector reports link_lost = $lost"
	[ "${missing:-0}" = 0 ] || msg="${msg:+$msg; }collector reports $missing missing sequence numbers"
	[ -n "$msg" ] || return 0
	[ "${2:-}" = warn ] || die "$msg"
	WARNS+=("$msg")
	echo "  warning: $msg" >&2
}

# run_tunnel IN N CAPOPTS: T_NS, LAG_NS, R_EDGE, R_COLL.
run_tunnel() {
	local in=$1 n=$2 capopts=$3 d=$W/tun tport aport t0 t1 t2
	rm -rf "$d" "$W/out" && mkdir -p "$d/estate" "$W/out"
	free_port tport
	free_port aport
	collector_start tun "$tport" "$aport" "$W/out/c.$FORMAT"
	cat >"$d/e.conf" <<EOF
node = { id = 1; name = "bench-edge"; };
captures = ( { name = "in"; file = "$in"; rate = "max"; $capopts } );
peers = ( { name = "collector"; address = "127.0.0.1"; port = $tport; } );
resend = { timeout = 60;$RESEND_OPT };
state_dir = "$d/estate";
api = { enabled = false; };
EOF
	t0=$(now_ns)
	if ! "$TIME" -f %M -o "$d/e.rss" timeout -k 5 "$LIMIT" "$PBD" -c "$d/e.conf" -x \
	    >"$d/e.log" 2>&1; then
		tail -n 20 "$d/e.log" >&2
		die "edge failed (or ran over $LIMIT s)"
	fi
	t1=$(now_ns)
	if grep -E 'lost|refused' "$d/e.log" >&2; then
		die "INCOMPLETE: the edge dropped records (log lines above)"
	fi
	wait_sink "$aport" "$n"
	t2=$(now_ns)
	check_collector "$aport"
	stop_daemon "$C_TPID"
	T_NS=$((t1 - t0))
	LAG_NS=$((t2 - t1))
	R_EDGE=$(rss "$d/e.rss")
	R_COLL=$(rss "$d/c.rss")
	verify "$in" "$(ls "$W/out"/* | head -n 1)" tunnel
}

# ---- throughput ----

# name | frames | pbgen options | capture options | file bytes per frame
CASES=(
	"64B|1000000|--size 64||80"
	"1500B|300000|--size 1500||1516"
	"9018B+2tr|100000|--size 9018 --trailers metamako,metamako|fcs = true; trailers = ( { type = \"metamako\"; }, { type = \"metamako\"; } );|9082"
)

# line NAME N LABEL NS BYTES RSS-TEXT RATIO
line() {
	awk -v name="$1" -v n="$2" -v label="$3" -v ns="$4" -v bytes="$5" -v rss="$6" \
	    -v ratio="$7" 'BEGIN {
		s = ns / 1e9
		printf "%-10s %8d  %-24s %8.3f %7.3f %7.2f  %-40s %7s\n", name, n, label, s,
		    n / s / 1e6, bytes * 8 / s / 1e9, rss, ratio
	}'
}

T_START=$(now_ns)
echo "tunnel benchmark: edge -> TCP 127.0.0.1 -> collector ($FORMAT dump), best of $RUNS;" \
    "edge resend.buffer_mb ${RESEND_MB:-default}, collector dump buffer_mb ${DUMP_MB:-default}"
printf '%-10s %8s  %-28s %8s %7s %7s  %-40s %7s\n' workload frames path "wall(s)" Mpps Gbit/s \
    "peak RSS MB per process" "speed"
printf '%s\n' "------------------------------------------------------------------------------------------------------------------------"
for c in "${CASES[@]}"; do
	IFS='|' read -r name n gen capopts _ <<<"$c"
	n=$((n * SCALE / 100))
	in=$W/$name.pcap
	# shellcheck disable=SC2086
	"$PBGEN" --count "$n" $gen -o "$in"
	frame_bytes=$(($(stat -c %s "$in") - 24 - 16 * n))

	bp=0 bt=0 lag=0
	rts=0 rss_=0 rrs=0 rrt=0 re=0 rc=0
	for _ in $(seq "$RUNS"); do
		# Alternate, so neither path always runs on a warm page cache.
		run_pipeline "$in"
		{ [ "$bp" = 0 ] || [ "$T_NS" -lt "$bp" ]; } && bp=$T_NS
		rts=$(maxv "$rts" "$R_TS") rss_=$(maxv "$rss_" "$R_SS")
		rrs=$(maxv "$rrs" "$R_RS") rrt=$(maxv "$rrt" "$R_RT")
		run_tunnel "$in" "$n" "$capopts"
		{ [ "$bt" = 0 ] || [ "$T_NS" -lt "$bt" ]; } && bt=$T_NS
		lag=$(maxv "$lag" "$LAG_NS")
		re=$(maxv "$re" "$R_EDGE") rc=$(maxv "$rc" "$R_COLL")
	done
	line "$name" "$n" "tcpdump|socat>socat|tcpdump" "$bp" "$frame_bytes" \
	    "tx $(mb "$rts")+$(mb "$rss_"), rx $(mb "$rrs")+$(mb "$rrt")" "1.00x"
	line "$name" "$n" "packetbrokerd edge>coll" "$bt" "$frame_bytes" \
	    "edge $(mb "$re"), collector $(mb "$rc")" \
	    "$(awk -v a="$bp" -v b="$bt" 'BEGIN { printf "%.2fx", a / b }')"
	awk -v ns="$lag" 'BEGIN { printf "%-10s %8s  %-28s collector lag after edge exit: max %.3f s\n", "", "", "", ns / 1e9 }'
	rm -f "$in"
	rm -rf "$W/out"
done
echo
echo "speed = pipeline wall / packetbrokerd wall from the same run (> 1: packetbrokerd faster)."
echo "Gbit/s counts frame bytes only. Every output was checked with pbcmp (--count-only, --multiset)."

# ---- dead-letter queue: spill and replay ----

echo
echo "dead-letter queue, $DLQ_N records of 64 bytes (edge resend.timeout 0.5 s)"
in=$W/dlq-in.pcap
"$PBGEN" --count "$DLQ_N" --size 64 -o "$in"
d=$W/dlq
mkdir -p "$d/estate" "$W/out"
tport='' eport='' cport=''
free_port tport
free_port eport
free_port cport
eapi=http://127.0.0.1:$eport/api/v1
# POST /dlq/replay needs the API's bearer token.
(umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$d/api.token")
cat >"$d/e.conf" <<EOF
node = { id = 1; name = "bench-edge"; };
captures = ( { name = "in"; file = "$in"; rate = "max"; } );
peers = ( { name = "collector"; address = "127.0.0.1"; port = $tport; } );
resend = { timeout = 0.5;$RESEND_OPT };
dlq = { path = "$d/dlq.db"; max_mb = 4096; };
state_dir = "$d/estate";
api = { listen = "127.0.0.1:$eport"; token_file = "$d/api.token"; };
EOF
"$TIME" -f %M -o "$d/e.rss" timeout -k 5 "$LIMIT" "$PBD" -c "$d/e.conf" >"$d/e.log" 2>&1 &
E_TPID=$!
PIDS+=("$E_TPID")
wait_api "$eapi" "$E_TPID" "$d/e.log"

# Spill: sample stats.inserted (committed rows). The rate runs from the
# first sample that saw a row to the first that saw them all. id_min keeps
# the row count the API does on every GET cheap (an index range, not a scan).
FAILS=()
tf=0 nf=0 tl=0 ins=0 ref=0 q=0
dlq_url="$eapi/dlq?limit=0&id_min=$DLQ_N"
deadline=$(($(now_ns) + 60 * 1000000000))
while :; do
	read -r ins ref q < <(get "$dlq_url" | jq -r '.stats | "\(.inserted) \(.refused_full +
	    .refused_queue) \(.queued)"' 2>/dev/null || true)
	ins=${ins:-0} ref=${ref:-0} q=${q:-0}
	t=$(now_ns)
	if [ "$ins" -gt 0 ] && [ "$tf" = 0 ]; then
		tf=$t nf=$ins
	fi
	if [ "$((ins + ref))" -ge "$DLQ_N" ] && [ "$q" = 0 ]; then
		tl=$t
		break
	fi
	[ "$t" -lt "$deadline" ] || break
	kill -0 "$E_TPID" 2>/dev/null || { tail -n 20 "$d/e.log" >&2; die "edge died while spilling"; }
	sleep 0.05
done
dlq=$(get "$eapi/dlq?limit=0")
[ "$tl" != 0 ] || die "INCOMPLETE: $ins of $DLQ_N records reached the DLQ within 60 s" \
    "(stats: $(jq -c .stats <<<"$dlq"); peer: $(get "$eapi/peers" |
    jq -c '.peers[0] | {to_dlq, dlq_refused, in_flight}'))"
stored=$(jq -r '.total' <<<"$dlq")
[ "$stored" = "$ins" ] || die "DLQ holds $stored rows but says it inserted $ins"
if [ "$ref" != 0 ]; then
	FAILS+=("INCOMPLETE: the DLQ refused $ref of $DLQ_N expired records (LOST; stats\
 $(jq -c '.stats | {refused_queue, refused_full}' <<<"$dlq"))")
	echo "  ${FAILS[-1]}" >&2
fi
spill=$(awk -v n=$((ins - nf)) -v ns=$((tl - tf)) \
    'BEGIN { if (ns <= 0) print 0; else printf "%.0f", n / (ns / 1e9) }')
dlqmb=$(du -cm "$d"/dlq.db* | awk 'END { print $1 }')

# Replay into a collector started now, once the edge has reconnected.
collector_start rep "$tport" "$cport" "$W/out/r.$FORMAT"
st=
for _ in $(seq 300); do
	st=$(get "$eapi/peers" | jq -r '.peers[0].state // ""')
	[ "$st" != up ] || break
	sleep 0.05
done
[ "$st" = up ] || die "the edge did not reconnect to the collector within 15 s (state '$st')"
t0=$(now_ns)
resp=$(curl -sf --max-time 5 -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $(cat "$d/api.token")" \
    -d '{"rate": 1000000}' "$eapi/dlq/replay") || die "POST /dlq/replay failed"
id=$(jq -r '.id' <<<"$resp")
state='' job=''
deadline=$(($(now_ns) + 90 * 1000000000))
while :; do
	job=$(get "$eapi/dlq/replays/$id")
	state=$(jq -r '.state // ""' <<<"$job" 2>/dev/null || true)
	case $state in done|failed) break ;; esac
	[ "$(now_ns)" -lt "$deadline" ] || break
	sleep 0.02
done
t1=$(now_ns)
[ "$state" = "done" ] || die "replay $id did not finish: $job"
wait_sink "$cport" "$stored"
t2=$(now_ns)
check_collector "$cport" warn
left=$(get "$eapi/dlq?limit=0" | jq -r '.total')
[ "$left" = 0 ] || die "DLQ still holds $left rows after the replay said done: $job"
replay=$(awk -v n="$stored" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
stop_daemon "$C_TPID"
stop_daemon "$E_TPID"
out=$(ls "$W/out"/r.* | head -n 1)
if [ "$ref" = 0 ]; then
	verify "$in" "$out" "DLQ replay"
else
	got=$("$PBCMP" --count "$out" | awk '{ print $1; exit }')
	[ "$got" = "$stored" ] || die "INCOMPLETE: the collector has $got of the $stored replayed records"
fi

verdict() { [ "$1" -ge "$TARGET" ] && echo ok || echo "BELOW TARGET"; }
printf '  spill into the DLQ : %9s records/s  (%s; target >= %d; %d stored, %d refused)\n' \
    "$spill" "$(verdict "$spill")" "$TARGET" "$stored" "$ref"
printf '  replay from the DLQ: %9s records/s  (%s; %d records, POST until job done %.3f s; collector had all %.3f s after POST)\n' \
    "$replay" "$(verdict "$replay")" "$stored" "$(awk -v ns=$((t1 - t0)) 'BEGIN { print ns / 1e9 }')" \
    "$(awk -v ns=$((t2 - t0)) 'BEGIN { print ns / 1e9 }')"
printf '  peak RSS: edge %s MB, collector %s MB; DLQ database %s MB when full\n' \
    "$(mb "$(rss "$d/e.rss")")" "$(mb "$(rss "$W/rep/c.rss")")" "$dlqmb"
echo
awk -v ns=$(($(now_ns) - T_START)) 'BEGIN { printf "tunnel benchmark took %.0f s\n", ns / 1e9 }'
[ ${#WARNS[@]} = 0 ] || printf 'bench_tunnel: warning: %s\n' "${WARNS[@]}" >&2
if [ ${#FAILS[@]} -gt 0 ]; then
	printf 'bench_tunnel: FAILED: %s\n' "${FAILS[@]}" >&2
	exit 1
fi

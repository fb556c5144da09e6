# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034,SC2086
# Helpers for the integration tests; sourced, never run.
#
# Conventions: exit 0 = pass, 1 = fail, 77 = skip (automake). Every wait is
# bounded. Everything a test starts or creates (daemons, tcpdump, network
# namespaces, the temp dir) is registered here and removed by the EXIT trap,
# also when the test fails half-way. PB_KEEP=1 keeps the temp dir.

set -eu

# `make distcheck` in tests/run-all.sh: the integration tests already ran.
if [ -n "${PB_SKIP_INTEGRATION:-}" ]; then
	echo "SKIP: PB_SKIP_INTEGRATION is set"
	exit 77
fi

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
PBD=$top_builddir/server/packetbrokerd
PBGEN=$top_builddir/tests/tools/pbgen
PBCMP=$top_builddir/tests/tools/pbcmp
TEST_NAME=$(basename "$0" .sh)
PB_TMP=
PB_PIDS=()      # background processes to stop at exit
PB_NETNS=()     # namespaces to delete at exit
PB_LOGS=()      # logs shown when a test fails

pb_log() { echo "[$TEST_NAME] $*"; }

skip() {
	echo "SKIP: $TEST_NAME: $*"
	exit 77
}

fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	local l
	for l in "${PB_LOGS[@]}"; do
		[ -s "$l" ] || continue
		echo "---- last lines of $l ----" >&2
		tail -n 40 "$l" >&2
	done
	exit 1
}

pass() {
	echo "PASS: $TEST_NAME${1:+: $1}"
	exit 0
}

require_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "'$t' not installed"
	done
}

# Our own binaries must exist: a missing one is a build problem, not a skip.
require_built() {
	local b
	for b in "$PBD" "$PBGEN" "$PBCMP"; do
		[ -x "$b" ] || fail "$b not built (run make check, or make all check_PROGRAMS)"
	done
}

pb_cleanup() {
	local rc=$? pid ns i
	set +e
	for pid in "${PB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PB_PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for ns in "${PB_NETNS[@]}"; do
		# Only processes inside a namespace this test created.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "$PB_TMP" ] && [ -d "$PB_TMP" ]; then
		if [ "${PB_KEEP:-0}" = 1 ]; then
			echo "[$TEST_NAME] kept $PB_TMP" >&2
		else
			rm -rf "$PB_TMP"
		fi
	fi
	exit "$rc"
}

# Creates the temp dir and installs the cleanup trap. Call first.
pb_setup() {
	trap pb_cleanup EXIT
	trap 'exit 1' INT TERM
	PB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pbtest-$TEST_NAME.XXXXXX")
}

# pb_wait_until TIMEOUT_S DESCRIPTION CMD...: polls CMD every 0.1 s.
pb_wait_until() {
	local timeout=$1 what=$2 n=0
	shift 2
	while ! "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -le $((timeout * 10)) ] || fail "timed out after ${timeout}s waiting for $what"
		sleep 0.1
	done
}

pb_alive() { kill -0 "$1" 2>/dev/null; }

# pb_start NAME [NETNS] -- CMD...: runs CMD in the background (inside NETNS
# when given), output to $PB_TMP/NAME.log; the pid is left in PB_PID.
# `ip netns exec` execs the command, so the pid is the command's own.
pb_start() {
	local name=$1 ns=
	shift
	if [ "$1" != -- ]; then
		ns=$1
		shift
	fi
	shift
	local log=$PB_TMP/$name.log
	PB_LOGS+=("$log")
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@" >"$log" 2>&1 &
	else
		"$@" >"$log" 2>&1 &
	fi
	PB_PID=$!
	PB_PIDS+=("$PB_PID")
}

# pb_daemon NAME CONF [NETNS] [ARGS...]: starts packetbrokerd -c CONF.
pb_daemon() {
	local name=$1 conf=$2 ns=
	shift 2
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
		ns=$1
		shift
	fi
	if [ -n "$ns" ]; then
		pb_start "$name" "$ns" -- "$PBD" -c "$conf" "$@"
	else
		pb_start "$name" -- "$PBD" -c "$conf" "$@"
	fi
}

# pb_wait_exit PID TIMEOUT_S: waits for a process started by pb_start and
# leaves its exit status in PB_RC. Fails the test on timeout.
pb_wait_exit() {
	local pid=$1 timeout=$2 n=0
	while pb_alive "$pid"; do
		n=$((n + 1))
		if [ "$n" -gt $((timeout * 10)) ]; then
			kill -KILL "$pid" 2>/dev/null || true
			fail "process $pid did not exit within ${timeout}s"
		fi
		sleep 0.1
	done
	PB_RC=0
	wait "$pid" || PB_RC=$?
}

# pb_stop PID [TIMEOUT_S]: SIGTERM and wait; status in PB_RC.
pb_stop() {
	kill -TERM "$1" 2>/dev/null || true
	pb_wait_exit "$1" "${2:-20}"
}

# A random free TCP port on 127.0.0.1 (tests may run in parallel).
# Below the kernel's ephemeral range: a daemon restarted on its port must
# not find it taken as the source port of some outgoing connection (or
# of a peer's own reconnect to it, which can connect to itself).
pb_free_port() {
	local port i lo=32768 base=10000 span
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	span=$((lo - base))
	[ "$span" -ge 2000 ] || { base=20000; span=40000; }
	for i in $(seq 100); do
		port=$((base + (RANDOM * 32768 + RANDOM) % span))
		if command -v ss >/dev/null 2>&1; then
			[ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ] || continue
		fi
		echo "$port"
		return 0
	done
	fail "no free TCP port found"
}

# REST API helpers. PB_API_NS: namespace the daemon runs in ("" = host).
PB_API_NS=

# pb_http PORT PATH [CURL ARGS...]: body in $PB_TMP/http.body, HTTP status
# printed ("000" when the connection failed).
pb_http() {
	local port=$1 path=$2
	shift 2
	local cmd=(curl -s --path-as-is --max-time 5 -o "$PB_TMP/http.body" -w '%{http_code}'
	    "$@" "http://127.0.0.1:$port$path")
	if [ -n "$PB_API_NS" ]; then
		ip netns exec "$PB_API_NS" "${cmd[@]}" || true
	else
		"${cmd[@]}" || true
	fi
}

# pb_api_json PORT PATH JQ_FILTER: prints the filtered value (raw); fails
# the test unless the request returned 200 with JSON that has the value.
pb_api_json() {
	local code
	code=$(pb_http "$1" "$2")
	[ "$code" = 200 ] || fail "GET $2: HTTP $code: $(head -c 300 "$PB_TMP/http.body" 2>/dev/null)"
	jq -er "$3" "$PB_TMP/http.body" 2>/dev/null ||
	    fail "GET $2: '$3' not in $(head -c 300 "$PB_TMP/http.body")"
}

# Succeeds once the API answers (for pb_wait_until).
pb_api_up() {
	[ "$(pb_http "$1" /api/v1/status)" = 200 ]
}

# pb_source_field PORT SOURCE FIELD: one field of /api/v1/sources/SOURCE.
pb_source_field() {
	[ "$(pb_http "$1" "/api/v1/sources/$2")" = 200 ] || return 1
	jq -er ".$3" "$PB_TMP/http.body"
}

# pb_source_is PORT SOURCE FIELD VALUE (for pb_wait_until).
pb_source_is() {
	local v
	v=$(pb_source_field "$1" "$2" "$3") || return 1
	[ "$v" = "$4" ]
}

# pb_sink_field PORT SINK FIELD: one field of the sink in /api/v1/sinks.
pb_sink_field() {
	[ "$(pb_http "$1" /api/v1/sinks)" = 200 ] || return 1
	jq -er --arg n "$2" ".sinks[] | select(.name == \$n) | .$3" "$PB_TMP/http.body"
}

pb_sink_is() {
	local v
	v=$(pb_sink_field "$1" "$2" "$3") || return 1
	[ "$v" = "$4" ]
}

# ---- network namespaces ----

# pb_netns NAME: creates namespace NAME-<pid>, loopback up, IPv6 off so that
# no autoconfiguration traffic reaches the captures. Result in PB_NS.
pb_netns() {
	PB_NS="pb$1-$$"
	ip netns add "$PB_NS" || fail "ip netns add $PB_NS"
	PB_NETNS+=("$PB_NS")
	ip -n "$PB_NS" link set lo up
	ip netns exec "$PB_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	    net.ipv6.conf.default.disable_ipv6=1 >/dev/null
}

# pb_veth NETNS A B MTU: veth pair A<->B, both up, no offloads that could
# merge or split frames on the way.
pb_veth() {
	local ns=$1 a=$2 b=$3 mtu=$4 d
	ip -n "$ns" link add "$a" mtu "$mtu" type veth peer name "$b" mtu "$mtu" ||
	    fail "cannot create veth pair $a/$b"
	for d in "$a" "$b"; do
		if command -v ethtool >/dev/null 2>&1; then
			ip netns exec "$ns" ethtool -K "$d" gro off gso off tso off >/dev/null 2>&1 || true
		fi
		ip -n "$ns" link set "$d" up
	done
}

# pb_tcpdump NAME NETNS IFACE FILE [FILTER...]: nanosecond, full-length
# capture; returns once tcpdump listens. PID in PB_TCPDUMP.
pb_tcpdump() {
	local name=$1 ns=$2 ifc=$3 file=$4
	shift 4
	pb_start "$name" "$ns" -- tcpdump -i "$ifc" -w "$file" -s 0 -U -n \
	    --time-stamp-precision=nano "$@"
	PB_TCPDUMP=$PB_PID
	pb_wait_until 10 "tcpdump on $ifc" grep -q "listening on" "$PB_TMP/$name.log"
}

# pb_tcpdump_stop PID: SIGINT makes tcpdump flush and close its file.
pb_tcpdump_stop() {
	kill -INT "$1" 2>/dev/null || true
	pb_wait_exit "$1" 10
}

# ---- captures ----

# Frame count of capture files.
pb_count() {
	"$PBCMP" --count "$@"
}

# Output files of a dump directory, oldest first (by modification time:
# rotated names may share a second).
pb_outputs() {
	local dir=$1 pattern=${2:-*}
	# shellcheck disable=SC2012
	(cd "$dir" && ls -1tr -- $pattern 2>/dev/null | sed "s|^|$dir/|")
}

# pb_nlines "$LIST": number of non-empty lines (0 for "").
pb_nlines() {
	printf '%s\n' "$1" | grep -c . || true
}

# pb_has_files DIR N: at least N entries in DIR (for pb_wait_until).
pb_has_files() {
	[ "$(find "$1" -mindepth 1 -maxdepth 1 | wc -l)" -ge "$2" ]
}

# pb_cmp ARGS...: pbcmp that fails the test with its message.
pb_cmp() {
	local out
	out=$("$PBCMP" "$@" 2>&1) || fail "pbcmp $*: $out"
	pb_log "pbcmp: $out"
}

# ---- tunnel nodes (test_tunnel_*.sh) ----
#
# Each node NAME has a directory $PB_TMP/NAME holding its node.conf, state
# dir, DLQ and dumps; relative paths in node.conf resolve there. Node
# tables: API port, namespace, pid, number of starts.
declare -A PB_NODE_API=() PB_NODE_NS=() PB_NODE_PID=() PB_NODE_RUNS=()

# pb_ports N: N distinct free TCP ports in PB_PORTS (one call, so that no
# two of them collide; pb_free_port alone runs in a subshell and cannot
# remember what it handed out).
pb_ports() {
	local n=$1 p i
	PB_PORTS=()
	while [ "${#PB_PORTS[@]}" -lt "$n" ]; do
		p=$(pb_free_port)
		for i in "${PB_PORTS[@]}"; do
			[ "$i" != "$p" ] || continue 2
		done
		PB_PORTS+=("$p")
	done
}

# pb_node_conf NAME ID API_PORT [NETNS]: writes $PB_TMP/NAME/node.conf: node
# id/name, the API on 127.0.0.1:API_PORT (inside NETNS when given) and,
# unless stdin sets them, state_dir = "state" and a fast heartbeat
# (0.2 s, dead after 1 s) so that the tests notice dead links quickly.
# Stdin holds the rest: captures, dump, listen, peers, resend, dlq...
# PB_API_EXTRA: more api settings (web_root = "...";).
pb_node_conf() {
	local name=$1 id=$2 api=$3 ns=${4:-} dir=$PB_TMP/$1 body
	mkdir -p "$dir"
	body=$(cat)
	# The API's bearer token (api.token_file): mutations need it.
	if [ ! -s "$dir/api.token" ]; then
		(umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$dir/api.token")
	fi
	{
		echo "node = { id = $id; name = \"$name\"; };"
		echo "api = { listen = \"127.0.0.1:$api\"; token_file = \"api.token\"; ${PB_API_EXTRA:-} };"
		case "$body" in *state_dir*) ;; *) echo 'state_dir = "state";' ;; esac
		case "$body" in *heartbeat*) ;; *)
			echo 'heartbeat = { interval = 0.2; dead_after = 1.0; slow_after = 0.6; };' ;;
		esac
		printf '%s\n' "$body"
	} >"$dir/node.conf"
	PB_NODE_API[$name]=$api
	PB_NODE_NS[$name]=$ns
	"$PBD" -t -c "$dir/node.conf" >"$dir/conf-check.log" 2>&1 ||
	    fail "$name: configuration refused: $(cat "$dir/conf-check.log")"
}

# pb_node NAME [DAEMON ARGS...]: starts NAME (in its namespace) and waits up
# to 10 s for its API (with -x, or until it exited). The log is $PB_TMP/NAME.log, NAME.2.log for a
# restart... PID in PB_PID and PB_NODE_PID[NAME].
pb_node() {
	local name=$1 runs log
	shift
	runs=$((${PB_NODE_RUNS[$name]:-0} + 1))
	PB_NODE_RUNS[$name]=$runs
	log=$name
	[ "$runs" = 1 ] || log=$name.$runs
	if [ -n "${PB_NODE_NS[$name]}" ]; then
		pb_start "$log" "${PB_NODE_NS[$name]}" -- "$PBD" -c "$PB_TMP/$name/node.conf" "$@"
	else
		pb_start "$log" -- "$PBD" -c "$PB_TMP/$name/node.conf" "$@"
	fi
	PB_NODE_PID[$name]=$PB_PID
	local n=0 a oneshot=0
	for a in "$@"; do
		case "$a" in -x | --exit-on-finish) oneshot=1 ;; esac
	done
	while ! pb_node_up "$name"; do
		if ! pb_alive "$PB_PID"; then
			# With -x a quick node may be done already: the caller's
			# pb_node_wait_exit reports its exit status.
			[ "$oneshot" = 1 ] && break
			fail "$name exited at start"
		fi
		n=$((n + 1))
		[ "$n" -le 100 ] || fail "$name: API not up after 10 s"
		sleep 0.1
	done
	PB_PID=${PB_NODE_PID[$name]}
}

# pb_node_log NAME: the log of NAME's current run.
pb_node_log() {
	local r=${PB_NODE_RUNS[$1]:-1}
	if [ "$r" = 1 ]; then echo "$PB_TMP/$1.log"; else echo "$PB_TMP/$1.$r.log"; fi
}

# All runs' logs of NAME, oldest first.
pb_node_logs() {
	local r=${PB_NODE_RUNS[$1]:-1} i
	echo "$PB_TMP/$1.log"
	for ((i = 2; i <= r; i++)); do echo "$PB_TMP/$1.$i.log"; done
}

# pb_node_http NAME PATH [CURL ARGS...]: pb_http against NAME's API, with
# its bearer token (pb_node_http_anon: without).
pb_node_http() {
	local name=$1 path=$2
	shift 2
	PB_API_NS=${PB_NODE_NS[$name]} pb_http "${PB_NODE_API[$name]}" "$path" \
	    -H "Authorization: Bearer $(cat "$PB_TMP/$name/api.token")" "$@"
}

pb_node_http_anon() {
	local name=$1
	shift
	PB_API_NS=${PB_NODE_NS[$name]} pb_http "${PB_NODE_API[$name]}" "$@"
}

pb_node_up() {
	[ "$(pb_node_http "$1" /api/v1/status)" = 200 ]
}

# pb_node_jq NAME PATH FILTER: the filtered value, or status 1 (no failure:
# for waits). pb_node_json NAME PATH FILTER: the same, failing the test.
pb_node_jq() {
	[ "$(pb_node_http "$1" "$2")" = 200 ] || return 1
	jq -er "$3" "$PB_TMP/http.body" 2>/dev/null
}

# pb_node_json NAME PATH [-c] FILTER (-c: compact JSON, for logs).
pb_node_json() {
	local code c=
	if [ "$3" = -c ]; then
		c=-c
		set -- "$1" "$2" "$4"
	fi
	code=$(pb_node_http "$1" "$2")
	[ "$code" = 200 ] || fail "$1: GET $2: HTTP $code: $(head -c 300 "$PB_TMP/http.body" 2>/dev/null)"
	jq -er $c "$3" "$PB_TMP/http.body" 2>/dev/null ||
	    fail "$1: GET $2: '$3' not in $(head -c 600 "$PB_TMP/http.body")"
}

# pb_node_true NAME PATH FILTER: succeeds when FILTER yields true (waits).
pb_node_true() {
	[ "$(pb_node_jq "$1" "$2" "$3")" = true ]
}

# pb_settle NAME: waits (up to 5 s) until NAME's /peers and /gaps
# snapshots, which the engine republishes every 250 ms, were generated
# after this call: counters read afterwards include everything that
# happened before it.
pb_settle() {
	local name=$1 path t0 now age n
	t0=$(date +%s%3N)
	for path in /api/v1/peers /api/v1/gaps; do
		n=0
		while :; do
			if [ "$(pb_node_http "$name" "$path")" = 200 ]; then
				age=$(jq -r '.generated_age_ms // empty' "$PB_TMP/http.body" 2>/dev/null)
				now=$(date +%s%3N)
				# 20 ms of margin for the request itself.
				[ -z "$age" ] || [ $((now - age)) -le $((t0 + 20)) ] || break
			fi
			n=$((n + 1))
			[ "$n" -le 100 ] || fail "$name: $path snapshot not refreshed within 5 s"
			sleep 0.05
		done
	done
}

# pb_peer NAME PEER FIELD: FIELD of /peers/PEER on NAME (fails the test).
pb_peer() {
	pb_node_json "$1" "/api/v1/peers/$2" ".$3"
}

# pb_peers_sum NAME FIELD: FIELD summed over all of NAME's peers and
# upstreams (0 when none has it).
pb_peers_sum() {
	pb_node_json "$1" /api/v1/peers "[.peers[] | .$2 // 0] | add // 0"
}

# pb_gaps NAME FIELD: .totals.FIELD of NAME's /gaps.
pb_gaps() {
	pb_node_json "$1" /api/v1/gaps ".totals.$2"
}

# pb_dlq NAME [-c] FILTER [QUERY]: FILTER applied to NAME's GET /dlq?QUERY.
pb_dlq() {
	if [ "$2" = -c ]; then
		pb_node_json "$1" "/api/v1/dlq${4:+?$4}" -c "$3"
	else
		pb_node_json "$1" "/api/v1/dlq${3:+?$3}" "$2"
	fi
}

# pb_dlq_committed NAME: succeeds once NAME's DLQ writer has committed every
# put it accepted (GET /dlq .stats.queued == 0), for pb_wait_until. GET /dlq
# .total counts committed rows only: read it after this.
pb_dlq_committed() {
	pb_node_true "$1" /api/v1/dlq '.stats.queued == 0'
}

# pb_sink_packets NAME [SINK]: packets written by NAME's sink (the first).
pb_sink_packets() {
	if [ -n "${2:-}" ]; then
		pb_node_json "$1" /api/v1/sinks ".sinks[] | select(.name == \"$2\") | .packets"
	else
		pb_node_json "$1" /api/v1/sinks '.sinks[0].packets'
	fi
}

# pb_replay NAME [JSON]: POST /dlq/replay, expects 202; prints the job id.
pb_replay() {
	local code
	code=$(pb_node_http "$1" /api/v1/dlq/replay -X POST -H 'Content-Type: application/json' \
	    --data-binary "${2:-{\}}")
	[ "$code" = 202 ] || fail "$1: POST /dlq/replay: HTTP $code: $(head -c 300 "$PB_TMP/http.body")"
	jq -er .id "$PB_TMP/http.body" || fail "$1: POST /dlq/replay: no id"
}

# pb_replay_wait NAME ID TIMEOUT_S: waits until the job is done; fails the
# test when it failed or timed out. The job's JSON is left in PB_JOB.
pb_replay_wait() {
	local name=$1 id=$2 timeout=$3 n=0 st
	while :; do
		st=$(pb_node_jq "$name" "/api/v1/dlq/replays/$id" .state || echo "?")
		PB_JOB=$(cat "$PB_TMP/http.body" 2>/dev/null)
		case "$st" in
		done) return 0 ;;
		failed) fail "$name: replay $id failed: $PB_JOB" ;;
		esac
		n=$((n + 1))
		[ "$n" -le $((timeout * 10)) ] || fail "$name: replay $id not done after ${timeout}s: $PB_JOB"
		sleep 0.1
	done
}

# pb_tunnel_drain EDGE COL N: waits until COL's first sink wrote N frames
# and EDGE's records to its peer COL are acknowledged, then stops both
# (each must exit 0).
pb_tunnel_drain() {
	local edge=$1 col=$2 n=$3 x
	pb_wait_until 30 "$col to write $n frames" \
	    pb_node_true "$col" /api/v1/sinks ".sinks[0].packets >= $n"
	pb_wait_until 10 "$edge's records to be acknowledged" \
	    pb_node_true "$edge" "/api/v1/peers/$col" '.in_flight == 0'
	for x in "$edge" "$col"; do
		pb_node_stop "$x"
		pb_node_exit_ok "$x" SIGTERM
	done
}

# pb_node_kill NAME SIGNAL: signals NAME's current process.
pb_node_kill() {
	kill "-$2" "${PB_NODE_PID[$1]}" 2>/dev/null || fail "$1: cannot send SIG$2 (not running?)"
}

# pb_node_stop NAME [TIMEOUT_S]: SIGTERM, wait; exit status in PB_RC.
pb_node_stop() {
	pb_stop "${PB_NODE_PID[$1]}" "${2:-20}"
}

# pb_node_wait_exit NAME TIMEOUT_S: waits for NAME to exit by itself.
pb_node_wait_exit() {
	pb_wait_exit "${PB_NODE_PID[$1]}" "$2"
}

# pb_node_grep NAME PATTERN: PATTERN (extended regex) in any of NAME's logs.
pb_node_grep() {
	local f
	for f in $(pb_node_logs "$1"); do
		[ -f "$f" ] && grep -Eq -- "$2" "$f" && return 0
	done
	return 1
}

# pb_no_crash NAME...: fails when a log shows a sanitizer report, a
# double free or an assertion; run at the end of every tunnel test.
pb_no_crash() {
	local n f
	for n in "$@"; do
		for f in $(pb_node_logs "$n"); do
			[ -f "$f" ] || continue
			if grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer|double free|Assertion|corrupted' "$f"; then
				fail "$n: crash report in $f: $(grep -Em3 'Sanitizer|runtime error|double free|Assertion|corrupted' "$f")"
			fi
		done
	done
}

# pb_node_exit_ok NAME WHAT: PB_RC (from pb_node_stop/pb_node_wait_exit)
# must be 0; a signal death is named.
pb_node_exit_ok() {
	[ "$PB_RC" = 0 ] && return 0
	if [ "$PB_RC" -gt 128 ]; then
		fail "$1: $2: killed by signal $((PB_RC - 128)) ($(kill -l $((PB_RC - 128)) 2>/dev/null))"
	fi
	fail "$1: $2: exit status $PB_RC"
}

# pb_veth2 NS_A DEV_A NS_B DEV_B: a veth pair between two namespaces, up.
pb_veth2() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" ||
	    fail "cannot create veth pair $2/$4"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# pb_outputs_n DIR: the pcapng outputs of DIR (oldest first), failing when
# there is none.
pb_outputs_ng() {
	local l
	l=$(pb_outputs "$1" '*.pcapng')
	[ -n "$l" ] || fail "no pcapng output in $1"
	printf '%s\n' "$l"
}

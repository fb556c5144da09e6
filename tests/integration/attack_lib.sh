# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034,SC2086
# Helpers for test_attack_*.sh; sourced, never run. On top of lib.sh.
#
# Every attack test runs in a network namespace of its own: the collector
# (node 100, "col"), a real edge (node 1, "edge") replaying a pbgen file to
# it, and the attacker, tests/tools/pbwire.py, all on that namespace's
# loopback, so fixed ports (tunnel 7000, APIs 8100/8101) never collide.
#
# Keys. Keyring mode (the default): pairwise keys, the collector's keyring
# holds node 1's key (shared with the edge) and node 5004's (the attacker's
# own), the edge's keyring holds the collector's (the same key as node 1's).
# Shared mode (atk_mode shared): one PSK file for everybody, shared_psk =
# true. The keys reach the Python snippets as hex in ATK_KEY_EDGE (what
# node 1 uses towards node 100) and ATK_KEY_ATK (what node 5004 uses).
#
# PB_ATTACK_LEGACY=1 writes the auth configuration a daemon from before the
# keyring/limits work understands (psk_file alone, shared by all), so the
# same attacks can be replayed against it to see what they did (with a
# lib.sh of its time too: today's gives every node an api.token_file). With it
# (or PB_ATTACK_DEMO=1) a failed check is reported and the test goes on,
# so that the whole damage is measured; the test still fails at its end.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

ATK_TP=7000         # the collector's tunnel port (inside the namespace)
ATK_COL_API=8100
ATK_EDGE_API=8101
ATK_LEGACY=${PB_ATTACK_LEGACY:-0}
ATK_MODE=keyring
ATK_NS=
ATK_DEMO=${PB_ATTACK_DEMO:-$ATK_LEGACY}
ATK_FAILED=0

# atk_fail MSG: fail, or with PB_ATTACK_DEMO note it and go on.
atk_fail() {
	if [ "$ATK_DEMO" = 1 ]; then
		echo "FAIL (going on, PB_ATTACK_DEMO): $TEST_NAME: $*" >&2
		ATK_FAILED=$((ATK_FAILED + 1))
		return 0
	fi
	fail "$@"
}

# atk_pass: pass, unless atk_fail noted failures.
atk_pass() {
	[ "$ATK_FAILED" = 0 ] || fail "$ATK_FAILED check(s) failed (see above)"
	pass "$@"
}
U64_MAX=18446744073709551615

atk_hexkey() {
	od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
}

# atk_init: root, tools, build, temp dir, namespace, keys, pbwire self test.
atk_init() {
	require_root
	require_tools curl jq python3 od
	require_built
	pb_setup
	T=$PB_TMP
	pb_netns atk
	ATK_NS=$PB_NS
	python3 "$top_srcdir/tests/tools/pbwire.py" selftest >"$T/pbwire-selftest.log" 2>&1 ||
	    fail "pbwire.py self test: $(cat "$T/pbwire-selftest.log")"
	K_EDGE=$(atk_hexkey)
	K_ATK=$(atk_hexkey)
	PSK_TEXT=$(atk_hexkey)
	umask 077
	{
		echo "# collector (node 100): keys it shares with each node"
		echo "1 $K_EDGE"
		echo
		echo "5004 $K_ATK"
	} >"$T/col.keyring"
	echo "100 $K_EDGE" >"$T/edge.keyring"
	echo "$PSK_TEXT" >"$T/psk"
	chmod 600 "$T/col.keyring" "$T/edge.keyring" "$T/psk"
	umask 022
	[ "$ATK_LEGACY" = 1 ] && ATK_MODE=shared
	atk_mode "$ATK_MODE"
	if [ "$ATK_LEGACY" = 1 ]; then
		pb_log "PB_ATTACK_LEGACY=1: configuration for a daemon without keyring/limits"
	fi
}

# atk_mode keyring|shared: which auth block the configurations get.
atk_mode() {
	ATK_MODE=$1
	[ "$ATK_LEGACY" != 1 ] || ATK_MODE=shared
	if [ "$ATK_MODE" = keyring ]; then
		ATK_KEY_EDGE=$K_EDGE
		ATK_KEY_ATK=$K_ATK
	else
		ATK_KEY_EDGE=$(printf %s "$PSK_TEXT" | od -An -tx1 | tr -d ' \n')
		ATK_KEY_ATK=$ATK_KEY_EDGE
	fi
}

# atk_auth col|edge: the auth group of that node.
atk_auth() {
	if [ "$ATK_MODE" = keyring ]; then
		echo "auth = { keyring = \"$T/$1.keyring\"; };"
	elif [ "$ATK_LEGACY" = 1 ]; then
		echo "auth = { psk_file = \"$T/psk\"; };"
	else
		echo "auth = { psk_file = \"$T/psk\"; shared_psk = true; };"
	fi
}

# atk_new_conf_only LINE: LINE unless PB_ATTACK_LEGACY (settings that an
# older daemon refuses as unknown keys).
atk_new_conf_only() {
	[ "$ATK_LEGACY" = 1 ] || echo "$1"
}

# atk_col_conf [LISTEN_EXTRA [DUMP_EXTRA]]: the collector's node.conf
# (stdin: more); the extras go inside the listen and dump groups.
atk_col_conf() {
	local extra=${1:-} dump=${2:-} more
	more=$(cat)
	[ "$ATK_LEGACY" != 1 ] || extra=
	pb_node_conf col 100 "$ATK_COL_API" "$ATK_NS" <<CONF
listen = { address = "127.0.0.1"; port = $ATK_TP; $extra };
$(atk_auth col)
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; $dump };
$more
CONF
}

# atk_edge_conf PCAP RATE: node 1, replaying PCAP at RATE to the collector
# (stdin: more). Unacknowledged records stay in its resend buffer for 60 s.
atk_edge_conf() {
	local pcap=$1 rate=$2 more
	more=$(cat)
	pb_node_conf edge 1 "$ATK_EDGE_API" "$ATK_NS" <<CONF
captures = ( { name = "in"; file = "$pcap"; rate = $rate; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $ATK_TP; } );
resend = { timeout = 60; buffer_mb = 256; };
$(atk_auth edge)
$more
CONF
}

# atk_py [ARGS...] <<'EOF' ... EOF: Python 3 inside the namespace, with
# pbwire importable and ATK_KEY_EDGE / ATK_KEY_ATK / ATK_TP set. Output
# goes to stdout (tests capture it and log it).
atk_py() {
	ip netns exec "$ATK_NS" env PYTHONPATH="$top_srcdir/tests/tools" PYTHONDONTWRITEBYTECODE=1 \
	    ATK_KEY_EDGE="$ATK_KEY_EDGE" ATK_KEY_ATK="$ATK_KEY_ATK" ATK_TP="$ATK_TP" \
	    python3 - "$@"
}

# atk_py_bg NAME [ARGS...] <<'EOF': the same in the background (pb_start:
# log $PB_TMP/NAME.log, pid in PB_PID, stopped at exit). The script is
# read from stdin now.
atk_py_bg() {
	local name=$1
	shift
	cat >"$T/$name.py"
	pb_start "$name" "$ATK_NS" -- env PYTHONPATH="$top_srcdir/tests/tools" \
	    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ATK_KEY_EDGE="$ATK_KEY_EDGE" \
	    ATK_KEY_ATK="$ATK_KEY_ATK" ATK_TP="$ATK_TP" python3 "$T/$name.py" "$@"
}

# atk_field OUTPUT KEY: the value of "KEY=value" in a snippet's output.
atk_field() {
	printf '%s\n' "$1" | sed -n "s/^.*\\b$2=\\([^ ]*\\).*\$/\\1/p" | tail -1
}

# atk_refused NAME FIELD: .tunnel.refused.FIELD of NAME's /peers.
atk_refused() {
	pb_node_json "$1" /api/v1/peers ".tunnel.refused.$2"
}

# atk_tunnel NAME FIELD: .tunnel.FIELD of NAME's /peers.
atk_tunnel() {
	pb_node_json "$1" /api/v1/peers ".tunnel.$2"
}

# atk_refused_all NAME: the refusal counters in one line (logs).
atk_refused_all() {
	pb_node_json "$1" /api/v1/peers -c '.tunnel | {auth_failures, protocol_errors, refused}'
}

# atk_counter_moved NAME FIELD BEFORE WHAT: fails unless
# .tunnel.refused.FIELD went above BEFORE within 5 s (snapshots lag 250 ms).
atk_counter_moved() {
	local name=$1 field=$2 before=$3 what=$4 v end=$(($(date +%s%N) + 5000000000))
	while :; do
		v=$(pb_node_jq "$name" /api/v1/peers ".tunnel.refused.$field" || echo "?")
		[ "$v" = "?" ] || [ "$v" -le "$before" ] || break
		if [ "$(date +%s%N)" -gt "$end" ]; then
			atk_fail "$what: $name's refused.$field stayed at $v (was $before): $(atk_refused_all "$name")"
			return 0
		fi
		sleep 0.1
	done
	pb_log "$what: $name refused.$field $before -> $v"
}

# atk_pyjson NAME PATH EXPR: EXPR evaluated by Python on the JSON of GET
# PATH (as d): exact for u64 values, which jq rounds to doubles.
atk_pyjson() {
	local code
	code=$(pb_node_http "$1" "$2")
	[ "$code" = 200 ] || fail "$1: GET $2: HTTP $code"
	python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($3)" "$PB_TMP/http.body" ||
	    fail "$1: GET $2: cannot evaluate $3"
}

# atk_up_u64 NAME NODE FIELD: exact FIELD of NAME's upstream entry for NODE
# (empty when there is none).
atk_up_u64() {
	atk_pyjson "$1" /api/v1/peers "next((p.get('$3', '') for p in d['peers'] if p['node']['id'] == $2 and p['direction'] == 'upstream'), '')"
}

# atk_up_state_is NAME NODE STATE (for waits).
atk_up_state_is() {
	[ "$(pb_node_jq "$1" /api/v1/peers "[.peers[] | select(.node.id == $2 and .direction == \"upstream\") | .state] | first // \"none\"")" = "$3" ]
}

# atk_outputs: the collector's pcapng outputs (oldest first) in ATK_OUTS.
atk_outputs() {
	mapfile -t ATK_OUTS < <(pb_outputs_ng "$T/col/out")
}

# atk_no_loss IN N [OTHERS]: after the collector stopped, its output must
# be the edge's input: N frames of origin 1, in order, timestamps
# included, and nothing else (OTHERS: that many frames of other origins
# are expected too; the test checks them). Names what went wrong: input
# frames missing from the output (lost), output frames of origin 1 in no
# input (forged or duplicated).
atk_no_loss() {
	local in=$1 n=$2 others=${3:-0} got total d missing extra out f0=$ATK_FAILED
	atk_outputs
	got=$("$PBCMP" --origin 1 --count "${ATK_OUTS[@]}")
	total=$(pb_count "${ATK_OUTS[@]}")
	d=$(python3 "$top_srcdir/tests/tools/pbwire.py" diff --origin 1 "$in" "${ATK_OUTS[@]}") ||
	    fail "pbwire.py diff failed: $d"
	missing=$(atk_field "$d" missing)
	extra=$(atk_field "$d" extra)
	pb_log "collector output: $total frame(s), $got of origin 1; edge input $n: $missing missing, $extra not in the input"
	[ "$missing" = 0 ] || atk_fail "LOSS: $missing of the edge's $n frames are not in the collector's output"
	[ "$extra" = 0 ] || atk_fail "the collector's output holds $extra frame(s) of origin 1 that the edge never sent (forged or duplicated)"
	[ "$((total - got))" = "$others" ] ||
	    atk_fail "the collector wrote $((total - got)) frame(s) not of origin 1, expected $others"
	if [ "$others" = 0 ]; then
		out=$("$PBCMP" --ts --multiset "$in" "${ATK_OUTS[@]}" 2>&1) ||
		    atk_fail "output differs from the edge's input (multiset): $out"
	fi
	out=$("$PBCMP" --ts --origin 1 "$in" "${ATK_OUTS[@]}" 2>&1) ||
	    atk_fail "origin 1's frames differ from the edge's input (order): $out"
	[ "$ATK_FAILED" != "$f0" ] ||
	    pb_log "pbcmp: output = edge input (multiset and origin 1 in order, timestamps included)"
}

# atk_edge_done TIMEOUT: waits for the edge (started with -x: exits once
# its file is read and every record acknowledged) and checks its status.
atk_edge_done() {
	pb_node_wait_exit edge "$1"
	pb_node_exit_ok edge "edge (--exit-on-finish)"
}

# atk_col_stop: SIGTERM the collector, expect a clean exit.
atk_col_stop() {
	pb_node_stop col 20
	pb_node_exit_ok col "collector after SIGTERM"
}

# atk_node_wrapped NAME WRAPPER...: starts node NAME like pb_node, with its
# daemon run by WRAPPER (e.g. prlimit --nofile=1024:1024 --), which must
# exec it (so that the pid is the daemon's); waits for its API.
atk_node_wrapped() {
	local name=$1
	shift
	PB_NODE_RUNS[$name]=$((${PB_NODE_RUNS[$name]:-0} + 1))
	[ "${PB_NODE_RUNS[$name]}" = 1 ] || fail "atk_node_wrapped: $name started twice"
	pb_start "$name" "${PB_NODE_NS[$name]}" -- "$@" "$PBD" -c "$PB_TMP/$name/node.conf"
	PB_NODE_PID[$name]=$PB_PID
	local n=0
	while ! pb_node_up "$name"; do
		pb_alive "$PB_PID" || fail "$name exited at start"
		n=$((n + 1))
		[ "$n" -le 100 ] || fail "$name: API not up after 10 s"
		sleep 0.1
	done
}

# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# Helpers for the jetstream tests (test_jetstream_*.sh), sourced after
# lib.sh. Each test runs its own nats-server processes on loopback ports,
# their stores under the test's temp dir; lib.sh's EXIT trap stops them.

PBNATS=$top_builddir/tests/tools/pbnats
declare -A JS_PORT=() JS_RUNS=() JS_PIDS=()

# Skips without nats-server, or when packetbrokerd was built without libnats.
js_require() {
	command -v nats-server >/dev/null 2>&1 ||
	    skip "nats-server not installed (apt-get install nats-server)"
	[ -x "$PBNATS" ] || skip "built without libnats: no jetstream sink or source" \
	    "(apt-get install libnats-dev, then configure again)"
}

# js_conf NAME PORT [CLUSTER_PORT ROUTE_PORT...]: a server's configuration.
js_conf() {
	local name=$1 port=$2 d=$PB_TMP/$1
	shift 2
	mkdir -p "$d/store"
	JS_PORT[$name]=$port
	{
		echo "server_name: $name"
		echo "listen: 127.0.0.1:$port"
		echo "jetstream { store_dir: \"$d/store\" }"
		if [ $# -gt 0 ]; then
			local cport=$1 routes="" r
			shift
			for r in "$@"; do routes="$routes, \"nats://127.0.0.1:$r\""; done
			echo "cluster { name: pbtest; listen: 127.0.0.1:$cport; routes: [${routes#, }] }"
		fi
	} >"$d/nats.conf"
}

# js_start NAME: starts the server (again) and waits until it listens.
js_start() {
	local name=$1 runs log
	runs=$((${JS_RUNS[$name]:-0} + 1))
	JS_RUNS[$name]=$runs
	log=nats-$name.$runs
	pb_start "$log" -- nats-server -c "$PB_TMP/$name/nats.conf"
	JS_PIDS[$name]=$PB_PID
	pb_wait_until 20 "nats-server $name to be ready" grep -q "Server is ready" "$PB_TMP/$log.log"
}

# js_kill NAME: kill -9, waits for the exit.
js_kill() {
	kill -KILL "${JS_PIDS[$1]}" 2>/dev/null || fail "nats-server $1 not running"
	pb_wait_exit "${JS_PIDS[$1]}" 10
}

js_url() { echo "nats://127.0.0.1:${JS_PORT[$1]}"; }

# js_check URL STREAM PREFIX: pbnats check, its summary in JS_CHECK.
js_check() {
	JS_CHECK=$("$PBNATS" "$1" check "$2" "$3" 2>&1) || fail "stream audit: $JS_CHECK"
	pb_log "stream $2: $JS_CHECK"
}

# js_field KEY: a number from JS_CHECK ("messages=3 records=...").
js_field() {
	printf '%s\n' "$JS_CHECK" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# js_comments FILE...: the EPB comments without the link= part (which
# names the link a record arrived on: engine-internal, not stored).
js_comments() {
	local f
	for f in "$@"; do
		tshark -r "$f" -T fields -e frame.comment 2>/dev/null
	done | sed 's/ link=[^ ]*//' | sort
}

# js_read_back N [TIMEOUT]: starts the node "reader" (a jetstream source
# "back" writing pcapng under out/), waits until it delivered N records,
# stops it, and checks it wrote exactly N frames, equal to $PB_TMP/in.pcap
# as a multiset. Its files in JS_OUTS.
js_read_back() {
	local n=$1 total
	pb_node reader
	pb_wait_until "${2:-120}" "the reader to deliver $n records" \
	    pb_node_true reader /api/v1/sources/back ".packets >= $n"
	pb_node_stop reader
	pb_node_exit_ok reader SIGTERM
	mapfile -t JS_OUTS < <(pb_outputs_ng "$PB_TMP/reader/out")
	total=$(pb_count "${JS_OUTS[@]}")
	[ "$total" = "$n" ] || fail "reader wrote $total frames, expected $n"
	pb_cmp --ts --multiset "$PB_TMP/in.pcap" "${JS_OUTS[@]}"
}

# js_cluster3: a 3-node cluster n0..n2 on PB_PORTS[0..5] (client, route),
# started; its client URLs, quoted for a servers list, in JS_URLS.
js_cluster3() {
	local i j routes
	for i in 0 1 2; do
		routes=()
		for j in 0 1 2; do [ $j = $i ] || routes+=("${PB_PORTS[$((j + 3))]}"); done
		js_conf "n$i" "${PB_PORTS[$i]}" "${PB_PORTS[$((i + 3))]}" "${routes[@]}"
	done
	for i in 0 1 2; do js_start "n$i"; done
	JS_URLS="\"$(js_url n0)\", \"$(js_url n1)\", \"$(js_url n2)\""
}

# js_kill_in_use NODE: kill -9 the cluster server NODE's sink "js" uses,
# waits until the sink is connected to another one, restarts the victim.
js_kill_in_use() {
	local used victim='' i
	used=$(pb_node_json "$1" /api/v1/sinks/js .jetstream.server)
	for i in 0 1 2; do [ "$(js_url "n$i")" = "$used" ] && victim=n$i; done
	[ -n "$victim" ] || fail "the sink's server in use ($used) is none of the cluster's"
	pb_log "killing nats-server $victim ($used)"
	js_kill "$victim"
	pb_wait_until 60 "the sink to use another server" pb_node_true "$1" /api/v1/sinks/js \
	    ".jetstream.state == \"connected\" and .jetstream.server != \"$used\" and .jetstream.server != \"\""
	js_start "$victim"
}

# js_verify_stream STREAM N [TIMEOUT]: another client finds exactly N
# records in STREAM, and reading it back gives $PB_TMP/in.pcap (origin 81)
# as a multiset and in order.
js_verify_stream() {
	js_check "$(js_url n0)" "$1" pb
	[ "$(js_field records)" = "$2" ] || fail "the stream holds $(js_field records) records, expected $2"
	js_read_back "$2" "${3:-120}"
	pb_cmp --ts --origin 81 "$PB_TMP/in.pcap" "${JS_OUTS[@]}"
}

# js_edge_done COL TIMEOUT: waits until the node "edge" (started with -x)
# exits after every record was acknowledged; logs COL's sink "js".
js_edge_done() {
	pb_node_wait_exit edge "$2"
	pb_node_exit_ok edge "edge (--exit-on-finish: every record acknowledged)"
	pb_log "$1's sink at the end: $(pb_node_json "$1" /api/v1/sinks/js -c .jetstream)"
	pb_node_true "$1" /api/v1/sinks/js '.jetstream.duplicates > 0' ||
	    pb_log "note: no resent record was already in the stream"
}

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# API access control and bounded replay jobs against a real daemon with a
# real DLQ. The edge sends a file to a collector that is not running yet,
# so every record ends in its SQLite DLQ. Then, with the DLQ row count
# (sqlite3 on the file) checked after each refusal:
# - DELETE /dlq?all=true without the token: 401; text/plain with it: 415;
#   a foreign Host: 421; a foreign Origin: 403; no row gone.
# - /peers and /status show no link epoch without the token.
# - POST /dlq/replay with the token: 202; the same again: 409 naming the
#   first job; the peer stays down past wait_s: the job fails with
#   "peer col down for more than 2 s".
# - The collector starts; a replay at 4 records/s: 202, a duplicate 409,
#   and it is paced (not 50/s as a 20 ms tick with a 1-row minimum made
#   it); it ends done with the DLQ empty.
# - 5 addresses x 16 slow-header connections: the connections over the
#   per-address limit are closed at once and curl -m 3 GET /status still
#   succeeds throughout.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq sqlite3 python3
require_built
pb_setup
T=$PB_TMP
N=16
"$PBGEN" --count $N --sizes 64,128 --seed 21 -o "$T/in.pcap"

pb_ports 3
TP=${PB_PORTS[0]}
pb_node_conf col 92 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf edge 91 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 1.0; buffer_mb = 64; };
dlq = { path = "dlq.db"; max_mb = 64; auto_replay = false; };
CONF
EP=${PB_NODE_API[edge]}
TOKEN=$(cat "$T/edge/api.token")

pb_node edge
pb_wait_until 20 "all $N records in the edge's DLQ, committed" \
    pb_node_true edge /api/v1/dlq ".total == $N and .stats.queued == 0"
rows() { sqlite3 "$T/edge/dlq.db" 'select count(*) from dlq'; }
[ "$(rows)" = $N ] || fail "dlq.db holds $(rows) rows, expected $N"

# code EXPECTED WHAT CURL-ARGS...: one request without the node's token.
code() {
	local want=$1 what=$2 got
	shift 2
	got=$(pb_node_http_anon edge "$@")
	[ "$got" = "$want" ] || fail "$what: HTTP $got, expected $want: $(head -c 300 "$T/http.body")"
	jq -e .error "$T/http.body" >/dev/null 2>&1 || fail "$what: no JSON error: $(head -c 300 "$T/http.body")"
	pb_log "$what: $got $(jq -c . "$T/http.body")"
}
AUTH="Authorization: Bearer $TOKEN"
code 401 "DELETE without a token" /api/v1/dlq?all=true -X DELETE -H 'Content-Type: application/json'
grep -qi '^www-authenticate: bearer' <(curl -s -D - -o /dev/null -X DELETE \
    "http://127.0.0.1:$EP/api/v1/dlq?all=true") || fail "401 without WWW-Authenticate: Bearer"
code 401 "DELETE with a wrong token" /api/v1/dlq?all=true -X DELETE -H 'Content-Type: application/json' \
    -H "Authorization: Bearer x$TOKEN"
code 415 "DELETE with the token, text/plain" /api/v1/dlq?all=true -X DELETE -H "$AUTH" \
    -H 'Content-Type: text/plain'
code 415 "POST replay with the token, text/plain" /api/v1/dlq/replay -X POST -H "$AUTH" \
    -H 'Content-Type: text/plain' --data-binary '{}'
code 415 "POST replay as a form" /api/v1/dlq/replay -X POST -H "$AUTH" --data '{}'
code 421 "a foreign Host" /api/v1/dlq?all=true -X DELETE -H "$AUTH" \
    -H 'Content-Type: application/json' -H "Host: rebound.example:$EP"
code 421 "GET with a foreign Host" /api/v1/status -H "Host: rebound.example:$EP"
code 403 "a foreign Origin" /api/v1/dlq?all=true -X DELETE -H "$AUTH" \
    -H 'Content-Type: application/json' -H 'Origin: http://evil.example'
[ "$(rows)" = $N ] || fail "dlq.db holds $(rows) rows after the refused requests, expected $N"
# A local page of our own may ask.
[ "$(pb_node_http_anon edge /api/v1/status -H "Origin: http://localhost:$EP")" = 200 ] ||
    fail "Origin http://localhost:$EP refused"

# Link epochs and custody points only with the token.
[ "$(pb_node_http_anon edge /api/v1/status)" = 200 ] || fail "GET /status without a token"
jq -e 'has("epoch") | not' "$T/http.body" >/dev/null || fail "/status shows the epoch without a token"
[ "$(pb_node_http_anon edge /api/v1/peers/col)" = 200 ] || fail "GET /peers/col without a token"
jq -e 'has("next_seq") or has("acked_seq") | not' "$T/http.body" >/dev/null ||
    fail "/peers/col shows link sequence numbers without a token: $(cat "$T/http.body")"
[ "$(pb_node_jq edge /api/v1/status .epoch)" -gt 0 ] || fail "/status: no epoch with the token"
pb_node_jq edge /api/v1/peers/col .acked_seq >/dev/null || fail "/peers/col: no acked_seq with the token"

# The peer is down: the job waits, a duplicate is refused, then it fails.
id=$(pb_replay edge '{"peer": "col", "wait_s": 2}')
code_tok() {
	local want=$1 what=$2 got
	shift 2
	got=$(pb_node_http edge "$@")
	[ "$got" = "$want" ] || fail "$what: HTTP $got, expected $want: $(head -c 300 "$T/http.body")"
	pb_log "$what: $got $(jq -c . "$T/http.body")"
}
code_tok 409 "the same replay again" /api/v1/dlq/replay -X POST -H 'Content-Type: application/json' \
    --data-binary '{"wait_s": 2, "peer": "col"}'
[ "$(jq -r .error.id "$T/http.body")" = "$id" ] || fail "409 names job $(jq -r .error.id "$T/http.body"), not $id"
pb_wait_until 10 "replay $id to fail" pb_node_true edge "/api/v1/dlq/replays/$id" '.state == "failed"'
err=$(pb_node_json edge "/api/v1/dlq/replays/$id" .error)
pb_log "replay $id: $err"
[ "$err" = "peer col down for more than 2 s" ] || fail "replay $id failed with '$err'"
[ "$(rows)" = $N ] || fail "dlq.db holds $(rows) rows after the failed job"
fetched=$(pb_node_json edge "/api/v1/dlq/replays/$id" .fetched)
[ "$fetched" = 0 ] || fail "the waiting job fetched $fetched rows while its peer was down"

# The collector comes: a replay at 4 records/s is paced, and completes.
pb_node col
pb_wait_until 10 "the edge's peer to be up" pb_node_true edge /api/v1/peers/col '.state == "up"'
t0=$(date +%s%N)
id=$(pb_replay edge '{"peer": "col", "rate": 4}')
code_tok 409 "a duplicate of the running job" /api/v1/dlq/replay -X POST \
    -H 'Content-Type: application/json' --data-binary '{"peer": "col", "rate": 9}'
sleep 1.5
sent=$(pb_node_json edge "/api/v1/dlq/replays/$id" .sent)
el=$(( ($(date +%s%N) - t0) / 1000000 ))
pb_log "replay $id at 4/s: $sent sent after $el ms"
# 1 at once, then 4/s: at most 1 + 4 * elapsed (+1 of slack for the tick).
max=$(( 2 + 4 * el / 1000 ))
[ "$sent" -ge 2 ] && [ "$sent" -le "$max" ] || fail "replay at 4/s sent $sent in $el ms (at most $max)"
pb_replay_wait edge "$id" 20
el=$(( ($(date +%s%N) - t0) / 1000000 ))
pb_log "replay $id done after $el ms: $(jq -c '{fetched, sent, acked, deleted}' <<<"$PB_JOB")"
# N rows at 4/s, the first at once: at least (N - 1) / 4 s.
[ "$el" -ge $(( (N - 1) * 1000 / 4 - 300 )) ] || fail "$N rows at 4/s took only $el ms"
pb_wait_until 10 "the edge's DLQ to be empty" pb_node_true edge /api/v1/dlq '.total == 0'

# Slow-header clients: 5 addresses x 16 connections, each holding half a
# header. The API allows 8 per address: the other 8 must be closed at once.
over0=$(pb_node_json edge /api/v1/status .api.over_limit)
cat >"$T/slow.py" <<'PY'
import socket, sys, time
port = int(sys.argv[1]); hold = float(sys.argv[2])
held, closed_fast = [], 0
for a in range(2, 7):
    for i in range(16):
        s = socket.socket()
        s.bind(("127.0.0.%d" % a, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1")
        held.append(s)
time.sleep(0.5)
for s in held:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed_fast += 1
    except BlockingIOError:
        pass
    except ConnectionResetError:
        closed_fast += 1
print(closed_fast, flush=True)
time.sleep(hold)
for s in held:
    s.close()
PY
python3 "$T/slow.py" "$EP" 4 >"$T/slow.out" 2>&1 &
slow=$!
PB_PIDS+=("$slow")
sleep 0.8
for i in 1 2 3 4 5; do
	c=$(curl -s -m 3 -o /dev/null -w '%{http_code}' -H "Host: 127.0.0.1:$EP" \
	    "http://127.0.0.1:$EP/api/v1/status") || true
	[ "$c" = 200 ] || fail "GET /status under the slow-header flood: HTTP $c (try $i)"
	sleep 0.3
done
wait "$slow" || fail "slow-header client: $(cat "$T/slow.out")"
closed=$(head -n1 "$T/slow.out")
pb_log "slow-header flood: $closed of 80 connections closed within 0.5 s"
[ "$closed" = 40 ] || fail "$closed connections over the per-address limit closed at once, expected 40"
over=$(pb_node_json edge /api/v1/status .api.over_limit)
[ $((over - over0)) = 40 ] || fail "/status api.over_limit went from $over0 to $over, expected +40"
pb_log "/status api: $(pb_node_json edge /api/v1/status -c .api)"
for k in unauthorized forbidden unsupported_media_type conflicts; do
	v=$(pb_node_json edge /api/v1/status ".api.$k")
	[ "$v" -gt 0 ] || fail "/status api.$k = $v"
done

for n in edge col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done
pb_no_crash edge col
pass

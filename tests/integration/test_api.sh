#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# REST API on 127.0.0.1: status, sources, one source, sinks, 404/405 as
# JSON, hostile paths that must neither crash the daemon nor leak files,
# and the "finished" state of a single-pass file source.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools curl jq
require_built
pb_setup
T=$PB_TMP

"$PBGEN" --count 500 --size 128 -o "$T/loop.pcap"
"$PBGEN" --count 300 --size 512 --seed 7 -o "$T/once.pcap"
PORT=$(pb_free_port)
mkdir -p "$T/out"
cat >"$T/api.conf" <<EOF
node = { id = 42; name = "apinode"; description = "api test"; };
captures = (
  { name = "looping"; file = "$T/loop.pcap"; loop = 0; rate = 2000; },
  { name = "once"; file = "$T/once.pcap"; loop = 1; }
);
dump = { name = "disk"; file = "$T/out/api-%Y%m%d-%H%M%S.pcapng"; };
api = { listen = "127.0.0.1:$PORT"; };
EOF
pb_daemon api "$T/api.conf"
D=$PB_PID
pb_wait_until 10 "API on port $PORT" pb_api_up "$PORT"

# /status
version=$("$PBD" -V | awk '{print $2}')
[ "$(pb_api_json "$PORT" /api/v1/status .version)" = "$version" ] || fail "status: version"
[ "$(pb_api_json "$PORT" /api/v1/status .node.id)" = 42 ] || fail "status: node.id"
[ "$(pb_api_json "$PORT" /api/v1/status .node.name)" = apinode ] || fail "status: node.name"
[ "$(pb_api_json "$PORT" /api/v1/status .sources)" = 2 ] || fail "status: sources"
[ "$(pb_api_json "$PORT" /api/v1/status .sinks)" = 1 ] || fail "status: sinks"
ctype=$(curl -s --max-time 5 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PORT/api/v1/status")
case "$ctype" in application/json*) ;; *) fail "status: Content-Type '$ctype'" ;; esac
pb_log "status: $(head -c 400 "$T/http.body")"

# /sources
names=$(pb_api_json "$PORT" /api/v1/sources '[.sources[].name] | join(",")')
[ "$names" = "looping,once" ] || fail "sources: names '$names'"
for f in state packets bytes pcap_drops trailer_errors oversize loops_done; do
	pb_api_json "$PORT" /api/v1/sources ".sources[0] | has(\"$f\")" >/dev/null ||
	    fail "sources: no field $f"
done

# /sources/NAME: the looping source keeps counting and stays running.
[ "$(pb_api_json "$PORT" /api/v1/sources/looping .name)" = looping ] || fail "source name"
[ "$(pb_api_json "$PORT" /api/v1/sources/looping .kind)" = file ] || fail "source kind"
p1=$(pb_api_json "$PORT" /api/v1/sources/looping .packets)
sleep 0.6
p2=$(pb_api_json "$PORT" /api/v1/sources/looping .packets)
[ "$p2" -gt "$p1" ] || fail "looping source: packets did not grow ($p1 → $p2)"
st=$(pb_api_json "$PORT" /api/v1/sources/looping .state)
[ "$st" = running ] || fail "looping source state '$st'"

# A loop=1 source ends as finished with every frame counted.
pb_wait_until 10 "source 'once' finished" pb_source_is "$PORT" once state finished
[ "$(pb_api_json "$PORT" /api/v1/sources/once .packets)" = 300 ] || fail "once: packets"
[ "$(pb_api_json "$PORT" /api/v1/sources/once .bytes)" = $((300 * 512)) ] || fail "once: bytes"
[ "$(pb_api_json "$PORT" /api/v1/sources/once .loops_done)" = 1 ] || fail "once: loops_done"
pb_log "once: $(head -c 400 "$T/http.body")"

# /sinks
[ "$(pb_api_json "$PORT" /api/v1/sinks '.sinks[0].name')" = disk ] || fail "sinks: name"
[ "$(pb_api_json "$PORT" /api/v1/sinks '.sinks[0].format')" = pcapng ] || fail "sinks: format"
sp=$(pb_api_json "$PORT" /api/v1/sinks '.sinks[0].packets')
[ "$sp" -ge 300 ] || fail "sinks: packets $sp"
pb_log "sinks: $(head -c 400 "$T/http.body")"

# Unknown paths and names: 404 with a JSON body.
for path in /api/v1/nope /nope / /api/v1/sources/nosuch /api/v2/status; do
	code=$(pb_http "$PORT" "$path")
	[ "$code" = 404 ] || fail "GET $path: HTTP $code, expected 404"
	jq -e . "$T/http.body" >/dev/null 2>&1 || fail "GET $path: body is not JSON: $(head -c 200 "$T/http.body")"
done
# Wrong method: an error status with a JSON body, not a crash.
code=$(pb_http "$PORT" /api/v1/status -X DELETE)
case "$code" in 404 | 405) ;; *) fail "DELETE /api/v1/status: HTTP $code" ;; esac
jq -e . "$T/http.body" >/dev/null 2>&1 || fail "DELETE: body not JSON"

# Hostile requests: the daemon must survive each, answer with an error
# status, and never serve a file from outside.
long=$(head -c 10240 /dev/zero | tr '\0' a)
huge=$(head -c 102400 /dev/zero | tr '\0' b)
for path in "/../../etc/passwd" "/api/v1/../../../etc/passwd" "/api/v1/sources/..%2f..%2fetc%2fpasswd" \
    "/api/v1/sources/%00" "/api/v1/sources/a%00b" "/%2e%2e/%2e%2e/etc/passwd" \
    "/api/v1/sources/$long" "/$long" "/api/v1/$huge" "/api/v1/sources/%ff%fe" \
    "/api/v1/status?$long" "/api/v1//sources" "/api/v1/sources/looping/../../status"; do
	code=$(pb_http "$PORT" "$path")
	pb_alive "$D" || fail "daemon died on GET ${path:0:80}"
	[ "$code" != 000 ] || fail "no answer to GET ${path:0:80}"
	if grep -q "root:" "$T/http.body" 2>/dev/null; then
		fail "GET ${path:0:80} leaked /etc/passwd"
	fi
	pb_log "GET ${path:0:60}... → $code"
done
# Raw requests that curl would not send.
if command -v socat >/dev/null 2>&1; then
	printf 'GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$huge" |
	    socat -t 2 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1 || true
	printf 'GARBAGE\r\n\r\n' | socat -t 2 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1 || true
	printf 'GET /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc' |
	    socat -t 2 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1 || true
	pb_alive "$D" || fail "daemon died on a raw request"
fi
# Still answering properly, and the looping source still runs.
[ "$(pb_api_json "$PORT" /api/v1/status .node.id)" = 42 ] || fail "status after hostile requests"
p3=$(pb_api_json "$PORT" /api/v1/sources/looping .packets)
[ "$p3" -gt "$p2" ] || fail "looping source stopped during the hostile requests"

pb_stop "$D" 20
[ "$PB_RC" = 0 ] || fail "exit status $PB_RC after SIGTERM"
pass

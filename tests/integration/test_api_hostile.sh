#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile requests against the REST API of an edge that forwards a stream
# to a collector all the while: malformed and invalid-UTF-8 JSON, bodies
# over the limit (declared, chunked, and a lying Content-Length), path
# traversal (/../, %2e%2e, %2f, %00), very long URLs and headers, unknown
# methods, raw garbage. Each gets its error status with a JSON body (or,
# past what MHD reads at all, a closed connection); the daemon never dies,
# the collector's packet count grows between every batch, and /status and
# /metrics count the rejected requests.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq python3
require_built
pb_setup
T=$PB_TMP
"$PBGEN" --count 1000 --sizes 64,512 --seed 5 -o "$T/loop.pcap"

pb_ports 3
TP=${PB_PORTS[0]}
pb_node_conf col 62 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf edge 61 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "loop"; file = "$T/loop.pcap"; loop = 0; rate = 3000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
dlq = { path = "dlq.db"; max_mb = 16; };
CONF
EP=${PB_NODE_API[edge]}
BASE=http://127.0.0.1:$EP
AUTH="Authorization: Bearer $(cat "$T/edge/api.token")"
JSON='Content-Type: application/json'
pb_node col
pb_node edge
pb_wait_until 10 "records at the collector" pb_node_true col /api/v1/sinks '.sinks[0].packets > 0'

errors0=$(pb_node_json edge /api/v1/status .api.errors)
last=$(pb_sink_packets col)
NERR=0
# still_forwarding WHAT: the edge lives and the collector got more records.
still_forwarding() {
	local now n=0
	pb_alive "${PB_NODE_PID[edge]}" || fail "edge died during: $1"
	while now=$(pb_sink_packets col) && [ "$now" -le "$last" ]; do
		n=$((n + 1))
		[ "$n" -le 30 ] || fail "forwarding stopped during: $1 ($last records)"
		sleep 0.1
	done
	pb_log "$1: done, collector at $now records"
	last=$now
}
# bad EXPECTED METHOD PATH [CURL ARGS]: an error answer with a JSON error.
bad() {
	local want=$1 method=$2 path=$3 got
	shift 3
	got=$(curl -s --path-as-is --max-time 10 -X "$method" -o "$T/body" -w '%{http_code}' \
	    "$@" "$BASE$path" || true)
	[ "$got" = "$want" ] || fail "$method ${path:0:60}: HTTP $got, expected $want: $(head -c 200 "$T/body")"
	jq -e '.error.code and .error.message' "$T/body" >/dev/null 2>&1 ||
	    fail "$method ${path:0:60}: no JSON error: $(head -c 200 "$T/body")"
	NERR=$((NERR + 1))
}

# Malformed JSON and invalid UTF-8, with the token (the body gets parsed).
for body in '{' '{"peer": }' '{"peer": "a",}' '{"peer": "a" "b"}' 'null' '"x"' \
    '{"peer": "a", "peer": "b"}' $'{"peer": "\xc3\x28"}' $'{"\xff": 1}' $'\xef\xbb\xbf{}' \
    '{"rate": 1e999}' '{"id_min": -1}' '{"since": "2024-13-01T00:00:00Z"}' \
    "$(printf '%0.s[' $(seq 3000))"; do
	bad 400 POST /api/v1/dlq/replay -H "$AUTH" -H "$JSON" --data-binary "$body"
done
still_forwarding "malformed JSON"

# Bodies over the limit: declared, chunked, and a Content-Length that lies.
head -c 1048576 /dev/urandom >"$T/1m"
bad 413 POST /api/v1/dlq/replay -H "$AUTH" -H "$JSON" --data-binary "@$T/1m"
bad 413 POST /api/v1/dlq/replay -H "$AUTH" -H "$JSON" -H 'Transfer-Encoding: chunked' \
    --data-binary "@$T/1m"
python3 - "$EP" <<'PY'
import socket, sys
# Declares 100 MB, sends a little, hangs up: answered or closed, never a crash.
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /api/v1/dlq/replay HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n"
          b"Content-Length: 100000000\r\n\r\n{\"peer\":" % sys.argv[1].encode())
try:
    s.recv(4096)
except OSError:
    pass
s.close()
PY
still_forwarding "oversized bodies"

# Path traversal and escapes: refused or unknown, never resolved.
for p in /api/v1/../../etc/passwd /api/v1/sources/../status /api/v1/%2e%2e/%2e%2e/etc/passwd \
    /api/v1/sources/%2e%2e /api/v1/./status /api/v1/dlq/%2e%2e%2fstatus; do
	bad 400 GET "$p"
done
for p in /api/v1/sources/..%2f..%2fetc%2fpasswd /api/v1/status%00 /api/v1/sources/%ff%fe \
    /etc/passwd /api/v1/dlq/1%00 "/api/v1/sources/$(printf 'a%.0s' $(seq 300))"; do
	code=$(curl -s --path-as-is --max-time 10 -o "$T/body" -w '%{http_code}' "$BASE$p" || true)
	case "$code" in 400 | 404) NERR=$((NERR + 1)) ;; *) fail "GET ${p:0:60}: HTTP $code" ;; esac
	grep -q 'root:' "$T/body" && fail "GET $p leaked /etc/passwd"
done
still_forwarding "path traversal"

# Long URLs: ours (414 with JSON) up to what MHD reads (it answers or closes).
bad 414 GET "/api/v1/status/$(head -c 8000 /dev/zero | tr '\0' a)"
bad 400 GET "/api/v1/dlq?peer=$(head -c 8000 /dev/zero | tr '\0' b)"
for n in 20000 70000; do
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	    "$BASE/api/v1/$(head -c $n /dev/zero | tr '\0' c)" || true)
	case "$code" in 414 | 431 | 400 | 000) ;; *) fail "URL of $n bytes: HTTP $code" ;; esac
done
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
    -H "X-Big: $(head -c 100000 /dev/zero | tr '\0' d)" "$BASE/api/v1/status" || true)
case "$code" in 431 | 400 | 413 | 000) ;; *) fail "100 kB header: HTTP $code" ;; esac
still_forwarding "long URLs and headers"

# Unknown and odd methods.
for m in BREW PROPFIND TRACE CONNECT OPTIONS PATCH PUT; do
	bad 405 "$m" /api/v1/status
done
bad 404 BREW /nope
python3 - "$EP" <<'PY'
import socket, sys
port = int(sys.argv[1])
for raw in (b"GARBAGE\r\n\r\n", b"\x00\x01\x02\xff\r\n\r\n", b"GET\r\n\r\n",
            b"GET /api/v1/status HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
            b"G\xc3\x28T /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
            b"GET /" + b"x" * 300000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"):
    # MHD holds a request line it cannot parse until api.header_timeout:
    # wait a second for an answer, then go.
    # It may also answer and close (or reset) before it read everything:
    # then sending the rest fails, which is fine.
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY
still_forwarding "unknown methods and garbage"

# Still serving, and the refusals are counted.
errors1=$(pb_node_json edge /api/v1/status .api.errors)
[ $((errors1 - errors0)) -ge "$NERR" ] ||
    fail "api.errors grew by $((errors1 - errors0)), $NERR error answers were seen"
r400=$(pb_node_json edge /api/v1/status '.api.responses["400"]')
r405=$(pb_node_json edge /api/v1/status '.api.responses["405"]')
[ "$r400" -ge 21 ] && [ "$r405" -ge 7 ] || fail "responses 400: $r400, 405: $r405"
curl -s --max-time 5 "$BASE/metrics" >"$T/metrics"
m400=$(sed -n 's/^packetbroker_api_responses_total{code="400"} //p' "$T/metrics")
[ "$m400" -ge "$r400" ] || fail "/metrics: 400 responses $m400 < $r400"
pb_log "rejected: $((errors1 - errors0)) errors ($NERR checked), 400: $r400, 405: $r405, 413: $(pb_node_json edge /api/v1/status '.api.responses["413"]')"
acked=$(pb_peer edge col records_acked)
[ "$acked" -gt 0 ] || fail "edge: nothing acknowledged"
pb_node_stop edge
[ "$PB_RC" = 0 ] || fail "edge exit status $PB_RC"
pass "$NERR hostile requests answered, the stream went on ($last records at the collector)"

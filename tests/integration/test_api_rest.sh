#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The REST API of issue 7 as an operator uses it with curl, against a real
# edge whose peer is down, so that its N records sit in the SQLite DLQ:
# - GET every endpoint: status, config (secrets redacted), sources, sinks,
#   peers, gaps, DLQ pages by cursor (every row once, in id order), one DLQ
#   entry with its frame, replay jobs, /metrics (parsed by Prometheus'
#   own parser: counters match /peers and /dlq).
# - GET /dlq/export: pcapng that capinfos and tshark read, the input's
#   frames in order (pbcmp --ts), each frame.comment naming its DLQ row;
#   with filters and limit; epochs only for the token holder.
# - Errors as {"error": {"code", "message"}}: 400 (bad JSON with its
#   position, invalid UTF-8, bad cursor, dot segments), 401, 404, 405 with
#   Allow, 409 (replay duplicate), 413 (body over the limit, also chunked),
#   414, and the counters that show them.
# - Replay with the token once the collector runs: the DLQ empties and the
#   collector writes every record.
# Every response recorded here is checked against schema/openapi.yaml
# (tests/tools/oascheck.py).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq capinfos tshark
require_built
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY -c 'import yaml, jsonschema, prometheus_client' 2>/dev/null ||
    skip "python3-yaml, python3-jsonschema, python3-prometheus-client needed"
pb_setup
T=$PB_TMP
N=40
"$PBGEN" --count $N --sizes 64,128,1500 --seed 33 -o "$T/in.pcap"

pb_ports 3
TP=${PB_PORTS[0]}
pb_node_conf col 82 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf edge 81 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 1.0; buffer_mb = 16; };
dlq = { path = "dlq.db"; max_mb = 64; auto_replay = false; };
CONF
EP=${PB_NODE_API[edge]}
TOKEN=$(cat "$T/edge/api.token")
AUTH="Authorization: Bearer $TOKEN"
BASE=http://127.0.0.1:$EP

# rec EXPECTED METHOD PATH [CURL ARGS...]: one request; the response is
# kept for the OpenAPI check and left in $T/http.body.
mkdir -p "$T/oas"
NREC=0
rec() {
	local want=$1 method=$2 path=$3 got ct
	shift 3
	NREC=$((NREC + 1))
	read -r got ct < <(curl -s --path-as-is --max-time 10 -X "$method" -o "$T/http.body" \
	    -w '%{http_code} %{content_type}\n' "$@" "$BASE$path" || true)
	[ "$got" = "$want" ] ||
	    fail "$method $path: HTTP $got, expected $want: $(head -c 300 "$T/http.body")"
	cp "$T/http.body" "$T/oas/$NREC.body"
	echo "$method $path $got ${ct:-none}" >"$T/oas/$NREC.meta"
}
# err EXPECTED CODE METHOD PATH [CURL ARGS...]: an error with its JSON code.
err() {
	local want=$1 code=$2
	shift 2
	rec "$want" "$@"
	[ "$(jq -r .error.code "$T/http.body")" = "$code" ] ||
	    fail "$2 ${3:0:60}: error code $(jq -c .error "$T/http.body"), expected $code"
	jq -e '.error.message | length > 0' "$T/http.body" >/dev/null || fail "$2: no message"
}

pb_node edge
pb_wait_until 20 "all $N records committed to the edge's DLQ" \
    pb_node_true edge /api/v1/dlq ".total == $N and .stats.queued == 0"
pb_settle edge

# ---- every read endpoint ----
rec 200 GET /api/v1/status
[ "$(jq -r .node.id "$T/http.body")" = 81 ] || fail "status: node.id"
jq -e 'has("epoch") | not' "$T/http.body" >/dev/null || fail "status: epoch shown without the token"
rec 200 GET /api/v1/status -H "$AUTH"
jq -e '.epoch > 0' "$T/http.body" >/dev/null || fail "status: no epoch with the token"
rec 200 GET /api/v1/config
jq -e '.api.token == "<redacted>" and .node.id == 81 and .dlq.path != null' "$T/http.body" \
    >/dev/null || fail "config: $(head -c 300 "$T/http.body")"
grep -qF "$TOKEN" "$T/http.body" && fail "config: shows the token"
rec 200 GET /api/v1/sources
rec 200 GET /api/v1/sources/in
rec 200 GET /api/v1/sinks
rec 200 GET /api/v1/peers
rec 200 GET /api/v1/peers -H "$AUTH"
rec 200 GET /api/v1/peers/col
jq -e '.direction == "downstream" and .to_dlq == '$N "$T/http.body" >/dev/null ||
    fail "peers/col: $(head -c 300 "$T/http.body")"
rec 200 GET /api/v1/gaps
rec 200 HEAD /api/v1/status -I

# ---- the DLQ a page at a time ----
rec 200 GET "/api/v1/dlq?limit=15"
ids=$(jq -r '.rows[].id' "$T/http.body")
cursor=$(jq -r .next_cursor "$T/http.body")
pages=1
while [ "$cursor" != null ]; do
	rec 200 GET "/api/v1/dlq?limit=15&cursor=$cursor"
	[ "$(jq -r .total "$T/http.body")" = $N ] || fail "cursor page: total"
	ids="$ids $(jq -r '.rows[].id' "$T/http.body")"
	cursor=$(jq -r .next_cursor "$T/http.body")
	pages=$((pages + 1))
	[ "$pages" -le 10 ] || fail "cursor pages never end"
done
[ "$pages" = 3 ] || fail "$N rows in pages of 15: $pages pages"
# shellcheck disable=SC2086
sorted=$(printf '%s\n' $ids | sort -n | uniq | tr '\n' ' ')
# shellcheck disable=SC2086
[ "$(printf '%s\n' $ids | tr '\n' ' ')" = "$sorted" ] || fail "cursor pages: ids not ascending and unique"
# shellcheck disable=SC2086
[ "$(printf '%s\n' $ids | wc -l)" = $N ] || fail "cursor pages: $(printf '%s\n' $ids | wc -l) rows"
first=$(echo $ids | awk '{print $1}')
last=$(echo $ids | awk '{print $NF}')
pb_log "DLQ ids $first..$last in $pages cursor pages"
rec 200 GET "/api/v1/dlq?peer=col&reason=timeout&limit=0"
[ "$(jq -r .total "$T/http.body")" = $N ] || fail "filter peer+reason: total"
rec 200 GET "/api/v1/dlq?id_min=$((first + 5))&id_max=$((first + 9))"
[ "$(jq '.rows | length' "$T/http.body")" = 5 ] || fail "id range: rows"
err 400 bad_request GET "/api/v1/dlq?cursor=abc"
err 400 bad_request GET "/api/v1/dlq?cursor=3&offset=1"
err 400 bad_request GET "/api/v1/dlq?reason=lost"
err 400 bad_request GET "/api/v1/dlq?frobnicate=1"

# ---- one entry ----
rec 200 GET "/api/v1/dlq/$first"
jq -e ".id == $first and .record.caplen > 0 and (.record.comment | startswith(\"dlq id=$first \"))" \
    "$T/http.body" >/dev/null || fail "entry: $(head -c 400 "$T/http.body")"
caplen=$(jq -r .record.caplen "$T/http.body")
[ "$(jq -r .record.data "$T/http.body" | base64 -d | wc -c)" = "$caplen" ] ||
    fail "entry: data is not the $caplen frame bytes"
jq -e '.record.comment | test("epoch=-")' "$T/http.body" >/dev/null ||
    fail "entry: epoch in the comment without the token"
err 404 not_found GET "/api/v1/dlq/999999"
err 400 bad_request GET "/api/v1/dlq/0"

# ---- export as pcapng ----
code=$(curl -s --max-time 10 -o "$T/all.pcapng" -w '%{http_code} %{content_type}' "$BASE/api/v1/dlq/export")
[ "$code" = "200 application/x-pcapng" ] || fail "export: $code"
capinfos -c "$T/all.pcapng" | grep -Eq "Number of packets: +$N\$" ||
    fail "export: capinfos: $(capinfos -c "$T/all.pcapng" 2>&1)"
pb_cmp --ts "$T/in.pcap" "$T/all.pcapng"
tshark -r "$T/all.pcapng" -T fields -e frame.comment >"$T/comments" 2>/dev/null
[ "$(grep -c '^dlq id=[0-9]* peer=col reason=timeout' "$T/comments")" = $N ] ||
    fail "export: comments: $(head -n 2 "$T/comments")"
head -n 1 "$T/comments" | grep -q "origin=81(" || fail "export: no origin in $(head -n 1 "$T/comments")"
grep -q 'epoch=[0-9]' "$T/comments" && fail "export: epochs without the token"
curl -s --max-time 10 -H "$AUTH" -o "$T/auth.pcapng" "$BASE/api/v1/dlq/export?limit=3"
[ "$(tshark -r "$T/auth.pcapng" -T fields -e frame.comment 2>/dev/null | grep -c 'epoch=[1-9]')" = 3 ] ||
    fail "export with the token: no epochs or not 3 frames"
curl -s --max-time 10 -o "$T/some.pcapng" \
    "$BASE/api/v1/dlq/export?id_min=$((first + 10))&id_max=$((first + 19))&peer=col"
[ "$(pb_count "$T/some.pcapng")" = 10 ] || fail "export id range: $(pb_count "$T/some.pcapng") frames"
curl -s --max-time 10 -o "$T/none.pcapng" "$BASE/api/v1/dlq/export?node=4242"
[ "$(pb_count "$T/none.pcapng")" = 0 ] || fail "export of nothing: frames"
capinfos "$T/none.pcapng" >/dev/null 2>&1 || fail "export of nothing: not a pcapng file"
err 400 bad_request GET "/api/v1/dlq/export?limit=0"

# ---- errors ----
err 404 not_found GET /api/v1/nosuch
err 404 not_found GET /api/v1/sources/nosuch
err 405 method_not_allowed PUT /api/v1/dlq
curl -s -o /dev/null -D "$T/h" -X PUT "$BASE/api/v1/dlq"
grep -qi '^Allow: GET, DELETE, HEAD' "$T/h" || fail "405 without Allow: $(cat "$T/h")"
err 405 method_not_allowed BREW /api/v1/status
err 405 method_not_allowed GET /api/v1/dlq/replay
err 400 bad_path GET /api/v1/sources/../status
err 400 bad_path GET /api/v1/%2e%2e/v1/status
err 414 uri_too_long GET "/api/v1/$(head -c 5000 /dev/zero | tr '\0' a)"
J=(-H "$AUTH" -H 'Content-Type: application/json')
err 400 invalid_json POST /api/v1/dlq/replay "${J[@]}" --data-binary $'{\n "peer": "col",\n "rate": }'
jq -e '.error.position == {"line": 3, "column": 10, "offset": 28}' "$T/http.body" >/dev/null ||
    fail "bad JSON: position $(jq -c .error.position "$T/http.body")"
err 400 invalid_json POST /api/v1/dlq/replay "${J[@]}" --data-binary $'{"peer": "co\xff\xfel"}'
err 400 invalid_json POST /api/v1/dlq/replay "${J[@]}" --data-binary '[1, 2]'
err 400 bad_request POST /api/v1/dlq/replay "${J[@]}" --data-binary '{"peer": 5}'
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
err 413 payload_too_large POST /api/v1/dlq/replay "${J[@]}" --data-binary "@$T/big.json"
err 413 payload_too_large POST /api/v1/dlq/replay "${J[@]}" -H 'Transfer-Encoding: chunked' \
    --data-binary "@$T/big.json"
err 401 unauthorized POST /api/v1/dlq/replay -H 'Content-Type: application/json' --data-binary '{}'

# ---- replay jobs: a duplicate is 409 while the first waits for the peer ----
rec 202 POST /api/v1/dlq/replay "${J[@]}" --data-binary '{"peer": "col", "wait_s": 60}'
job=$(jq -r .id "$T/http.body")
err 409 conflict POST /api/v1/dlq/replay "${J[@]}" --data-binary '{"peer": "col", "wait_s": 60}'
[ "$(jq -r .error.id "$T/http.body")" = "$job" ] || fail "409 does not name job $job"
rec 200 GET /api/v1/dlq/replays
rec 200 GET "/api/v1/dlq/replays/$job"
err 404 not_found GET /api/v1/dlq/replays/999999

# ---- /metrics, parsed by Prometheus' client library ----
rec 200 GET /metrics
cp "$T/http.body" "$T/metrics.txt"
$PY - "$T/metrics.txt" $N <<'PYEOF' || fail "metrics: $(tail -n 3 "$T/metrics.py.log" 2>/dev/null)"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
n = int(sys.argv[2])
fams = {f.name: f for f in text_string_to_metric_families(text)}
def value(name, **labels):
    for f in fams.values():
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise SystemExit("no sample %s%s" % (name, labels))
for f in fams.values():
    for s in f.samples:
        assert s.name.startswith("packetbroker_"), s.name
        if f.type == "counter":
            assert s.name.endswith("_total"), s.name
assert value("packetbroker_peer_records_to_dlq_total", peer="col") == n
assert value("packetbroker_peer_up", peer="col") == 0
assert value("packetbroker_peer_state", peer="col", state="down") == 1 or \
    value("packetbroker_peer_state", peer="col", state="connecting") == 1
assert value("packetbroker_source_packets_total", source="in") == n
assert value("packetbroker_source_pcap_drops_total", source="in") == 0
assert value("packetbroker_dlq_records") == n
assert value("packetbroker_dlq_replay_jobs", state="running") + \
    value("packetbroker_dlq_replay_jobs", state="queued") == 1
assert value("packetbroker_api_responses_total", code="400") >= 8
assert value("packetbroker_api_responses_total", code="413") == 2
assert value("packetbroker_api_refused_total", reason="conflict") == 1
assert value("packetbroker_info", node_id="81", node="edge") == 1
print("metrics: %d families parsed" % len(fams))
PYEOF

# ---- replay with the token once the collector is up ----
pb_node col
pb_replay_wait edge "$job" 30
pb_wait_until 20 "the edge's DLQ to empty" pb_node_true edge /api/v1/dlq '.total == 0'
pb_wait_until 20 "the collector to write $N records" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets == $N"
rec 200 GET "/api/v1/dlq/replays/$job"
jq -e '.state == "done" and .deleted == '$N "$T/http.body" >/dev/null ||
    fail "job: $(head -c 300 "$T/http.body")"
rec 200 GET /api/v1/dlq
rec 200 DELETE "/api/v1/dlq?all=true" "${J[@]}"
# The collector's side: an upstream link and an origin stream with no gap.
BASE=http://127.0.0.1:${PB_NODE_API[col]}
pb_settle col
rec 200 GET /api/v1/peers -H "Authorization: Bearer $(cat "$T/col/api.token")"
jq -e '.peers[0].direction == "upstream" and .peers[0].records_received == '$N "$T/http.body" \
    >/dev/null || fail "col peers: $(head -c 300 "$T/http.body")"
rec 200 GET /api/v1/gaps
jq -e '.streams | length == 1 and .[0].origin.node == 81 and .[0].received == '$N' and .[0].missing_total == 0' \
    "$T/http.body" >/dev/null || fail "col gaps: $(head -c 300 "$T/http.body")"
# Its route by name: straight from the edge to this node.
jq -e '.streams[0].path == [{"node": 81, "name": "edge"}, {"node": 82, "name": "col"}]' \
    "$T/http.body" >/dev/null || fail "col gaps path: $(jq -c '.streams[0].path' "$T/http.body")"
rec 200 GET /api/v1/sinks
rec 200 GET /metrics
grep -q "^packetbroker_origin_records_received_total{origin=\"81/0\"} $N\$" "$T/http.body" ||
    fail "col metrics: $(grep origin_records_received "$T/http.body")"
grep -q '^packetbroker_peer_records_received_total{peer="[^"]*"} '$N'$' "$T/http.body" ||
    fail "col metrics: $(grep peer_records_received "$T/http.body")"
BASE=http://127.0.0.1:$EP
rec 200 GET /api/v1/status
jq -e '.api.responses["400"] >= 8 and .api.responses["413"] == 2 and .api.responses["409"] == 1' \
    "$T/http.body" >/dev/null || fail "status: response counters $(jq -c .api.responses "$T/http.body")"

# ---- every recorded response matches the document ----
$PY "$top_srcdir/tests/tools/oascheck.py" "$top_srcdir/schema/openapi.yaml" \
    --responses "$T/oas" >"$T/oascheck.log" 2>&1 || { cat "$T/oascheck.log"; fail "responses do not match schema/openapi.yaml"; }
pb_log "$(tail -n 1 "$T/oascheck.log")"
pb_node_stop edge
[ "$PB_RC" = 0 ] || fail "edge exit status $PB_RC"
pass

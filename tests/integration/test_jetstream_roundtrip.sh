#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# edge → collector with a jetstream sink (one nats-server) → a node with a
# jetstream source writing pcapng. The output equals the input (multiset
# and per-origin order, no duplicate), the EPB comments (origin, hops,
# trailers) equal the collector's own pcapng byte for byte, and the stream
# audited by another client holds every record exactly once.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_tools curl jq
require_built
js_require
pb_setup
T=$PB_TMP
N=200000
"$PBGEN" --count $N --mix --trailers metamako --seed 21 -o "$T/in.pcap"

pb_ports 5
js_conf nats "${PB_PORTS[0]}"
js_start nats
URL=$(js_url nats)
TP=${PB_PORTS[1]}
pb_node_conf col 62 "${PB_PORTS[2]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = ( { name = "js"; jetstream = { servers = [ "$URL" ]; stream = "PBT";
                                       subject_prefix = "pbt"; batch_kb = 64; }; },
         { name = "file"; file = "out/c.pcapng"; } );
CONF
pb_node_conf edge 61 "${PB_PORTS[3]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; trailers = ( { type = "metamako"; } ); fcs = true; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
CONF
pb_node_conf reader 63 "${PB_PORTS[4]}" <<CONF
captures = ( { name = "back"; jetstream = { servers = [ "$URL" ]; stream = "PBT";
                                           subject_prefix = "pbt"; }; } );
dump = { file = "out/r.pcapng"; };
CONF

pb_node col -d jetstream
pb_wait_until 20 "the jetstream sink to connect" \
    pb_node_true col /api/v1/sinks/js '.jetstream.state == "connected"'
pb_node edge -x
pb_node_wait_exit edge 60
pb_node_exit_ok edge "edge (--exit-on-finish: every record acknowledged)"
# One writer at full rate: batches are cut faster than PubAcks come back,
# so they go pipelined (fenced by the id of the one before); the stream
# checks below then cover pipelined messages.
piped=$(grep -c ': pipeline ' "$T/col.log" || true)
pb_log "pipelined messages: $piped"
[ "$piped" -gt 0 ] || fail "one collector at full rate never pipelined a message"
pb_log "collector sink: $(pb_node_json col /api/v1/sinks/js -c .jetstream)"
pb_node_true col /api/v1/sinks/js ".jetstream.records == $N and .jetstream.pending_acks == 0" ||
    fail "collector: the stream did not acknowledge $N records"
pb_node_true col /api/v1/sinks/js '.jetstream.server | startswith("nats://127.0.0.1:")' ||
    fail "collector: no server in use shown"
# The responses with a jetstream sink and source match schema/openapi.yaml.
mkdir -p "$T/oas"
js_record() {
	local n=$1 path=$2 i
	i=$(find "$T/oas" -name '*.meta' | wc -l)
	[ "$(pb_node_http "$n" "$path")" = 200 ] || fail "$n: GET $path"
	cp "$T/http.body" "$T/oas/$i.body"
	echo "GET $path 200 application/json" >"$T/oas/$i.meta"
}
js_record col /api/v1/sinks
js_record col /api/v1/sinks/js
# /metrics: the jetstream sink's series agree with the JSON (Prometheus'
# own parser reads them; the file sink has none).
[ "$(pb_node_http col /metrics)" = 200 ] || fail "col: GET /metrics"
cp "$T/http.body" "$T/metrics.txt"
pb_node_http col /api/v1/sinks/js >/dev/null
SEQ=$(jq -r .jetstream.last_stream_seq "$T/http.body")
MSGS=$(jq -r .jetstream.messages "$T/http.body")
if /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
	/usr/bin/python3 - "$T/metrics.txt" $N "$SEQ" "$MSGS" <<'PYEOF' >"$T/metrics.log" 2>&1 ||
import sys
from prometheus_client.parser import text_string_to_metric_families
n, seq, msgs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def value(name, **labels):
    found = [s.value for f in fams.values() for s in f.samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    if len(found) != 1:
        raise SystemExit("%d samples %s%s" % (len(found), name, labels))
    return found[0]
p = "packetbroker_sink_jetstream_"
assert value(p + "records_total", sink="js") == n
assert value(p + "messages_total", sink="js") == msgs > 0
assert value(p + "last_stream_seq", sink="js") == seq > 0
assert value(p + "pending_acks", sink="js") == 0
for c in ("duplicates", "late", "holes_forgotten", "errors"):
    assert value(p + c + "_total", sink="js") == 0, c
assert value(p + "connection_state", sink="js", state="connected") == 1
assert fams["packetbroker_sink_jetstream_records"].type == "counter"
assert not any(s.labels.get("sink") == "file" for f in fams.values()
               if f.name.startswith("packetbroker_sink_jetstream") for s in f.samples)
PYEOF
	    fail "col /metrics: $(tail -n 3 "$T/metrics.log")"
	pb_log "/metrics: the jetstream sink's series match"
else
	pb_log "python3-prometheus-client missing: /metrics not parsed"
fi
pb_node_stop col
pb_node_exit_ok col SIGTERM

js_check "$URL" PBT pbt
[ "$(js_field records)" = $N ] || fail "the stream holds $(js_field records) records, expected $N"
[ "$(js_field foreign)" = 0 ] || fail "foreign messages in a stream only we wrote"

pb_node reader
pb_wait_until 60 "the reader to deliver $N records" \
    pb_node_true reader /api/v1/sources/back ".packets >= $N"
js_record reader /api/v1/sources
if python3 -c 'import yaml, jsonschema' 2>/dev/null; then
	python3 "$top_srcdir/tests/tools/oascheck.py" "$top_srcdir/schema/openapi.yaml" \
	    --responses "$T/oas" >"$T/oascheck.log" 2>&1 ||
	    fail "responses do not match schema/openapi.yaml: $(cat "$T/oascheck.log")"
	pb_log "API responses match schema/openapi.yaml"
else
	pb_log "python3-yaml/python3-jsonschema missing: responses not checked"
fi
pb_node_stop reader
pb_node_exit_ok reader SIGTERM
mapfile -t outs < <(pb_outputs_ng "$T/reader/out")
total=$(pb_count "${outs[@]}")
[ "$total" = $N ] || fail "reader wrote $total frames, expected $N"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
pb_cmp --ts --origin 61 "$T/in.pcap" "${outs[@]}"
if command -v tshark >/dev/null 2>&1; then
	js_comments "$T"/col/out/*.pcapng >"$T/c.txt"
	js_comments "${outs[@]}" >"$T/r.txt"
	cmp -s "$T/c.txt" "$T/r.txt" || fail "EPB comments differ: $(diff "$T/c.txt" "$T/r.txt" | head -4)"
	grep -q 'trailers=\[metamako' "$T/r.txt" || fail "no trailer metadata in the read-back comments"
	pb_log "EPB comments (origin, hops, trailers) identical to the collector's"
else
	pb_log "tshark not installed: comments not compared"
fi
pb_no_crash col edge reader
pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The jetstream sink keeps per-origin-stream state (resume point, holes)
# for at most max_streams streams: an upstream can make new origin streams
# at will (every edge restart is a new epoch). An upstream (pbwire.py, node
# 7) sends 40 origin epochs of 25 records one after the other into a
# collector whose sink has max_streams = 8, then, once those are forgotten:
#   - epoch 2 again: its 25 records (duplicates) and 10 new ones;
#   - epoch 3's record 13, left out the first time (a hole below 25);
#   - after stream_idle_s (2 s) with no records, epoch 40 again: 5
#     duplicates and 5 new ones.
# The sink never keeps more than 8 streams, counts what it forgot, stores
# every new record once and no duplicate (another client audits the
# stream per origin seq), and fills the hole as a late record: what it
# forgot it read back from the stream. The collector tracks the gaps of
# one origin stream only (limits.max_streams = 1), so duplicates of the
# others reach the sink, as they do past that bound.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_tools curl jq python3
require_built
js_require
pb_setup
T=$PB_TMP

pb_ports 3
js_conf nats "${PB_PORTS[0]}"
js_start nats
URL=$(js_url nats)
TP=${PB_PORTS[1]}
pb_node_conf col 100 "${PB_PORTS[2]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
limits = { max_streams = 1; };
dump = { name = "js"; jetstream = { servers = [ "$URL" ]; stream = "PBS"; max_streams = 8;
                                    stream_idle_s = 2; }; };
CONF
pb_node col
pb_wait_until 20 "the jetstream sink to connect" \
    pb_node_true col /api/v1/sinks/js '.jetstream.state == "connected"'

API=http://127.0.0.1:${PB_PORTS[2]}/api/v1/sinks/js
# upstream.py STEP...: one connection (link epoch 1, link seqs continue
# from the collector's resume point); each STEP "epoch:first-last[,...]"
# sends those origin seqs, waits for their ACK (custody = PubAck), then
# reads the sink's stream count. Prints "max_streams_seen=N".
cat >"$T/upstream.py" <<'EOF'
import json, os, sys, urllib.request, pbwire
api = os.environ["SINK_API"]
l = pbwire.Link.connect("127.0.0.1", int(os.environ["TP"]))
info = l.handshake(7, 1, "send")
seq = info.resume_seq
l.send_node(7, "upstream7")
l.send_source(7, 0, 1, "s0")
most = 0
for step in sys.argv[1:]:
    epoch, ranges = step.split(":")
    for r in ranges.split(","):
        a, b = (int(x) for x in r.split("-"))
        for o in range(a, b + 1):
            seq += 1
            frame = bytes([0xff] * 6 + [2, 0, 0, 0, 0, 7] + [8, 0]) + \
                int(epoch).to_bytes(4, "big") + o.to_bytes(4, "big") + bytes(42)
            l.send_record(seq, 7, 0, 1, int(epoch), o, 1700000000000000000 + o, frame)
    while True:
        m = l.recv_msg(30)
        if m is None:
            sys.exit("no ACK for link seq %d (epoch %s)" % (seq, epoch))
        if m.type == pbwire.ACK and m.link_seq >= seq:
            break
    js = json.load(urllib.request.urlopen(api))["jetstream"]
    most = max(most, js["streams"])
print("max_streams_seen=%d" % most)
l.close()
EOF
upstream() {
	SINK_API=$API TP=$TP PYTHONPATH="$top_srcdir/tests/tools" PYTHONDONTWRITEBYTECODE=1 \
	    python3 "$T/upstream.py" "$@" 2>&1
}
js_field_of() { pb_node_json col /api/v1/sinks/js ".jetstream.$1"; }

# ---- 40 epochs, one after the other; epoch 3 without its record 13 ----
steps=()
for e in $(seq 1 40); do
	if [ "$e" = 3 ]; then steps+=("3:1-12,14-25"); else steps+=("$e:1-25"); fi
done
out=$(upstream "${steps[@]}") || fail "upstream: $out"
pb_log "40 epochs: $out; sink $(pb_node_json col /api/v1/sinks/js -c .jetstream)"
most=${out##*max_streams_seen=}
[ "$most" -le 8 ] || fail "the sink kept $most origin streams, max_streams is 8"
[ "$(js_field_of streams)" -le 8 ] || fail "the sink keeps $(js_field_of streams) streams"
[ "$(js_field_of streams_evicted)" -ge 32 ] ||
    fail "forgotten streams: $(js_field_of streams_evicted), expected at least 32"
[ "$(js_field_of records)" = 999 ] || fail "stored $(js_field_of records) records, expected 999"
pb_node_grep col 'at max_streams .8.: the least recently used idle one is forgotten' ||
    fail "no log line says that streams are forgotten at max_streams"

# ---- forgotten streams return: duplicates dropped, new records and the hole stored ----
out=$(upstream "2:1-35" "3:13-13") || fail "upstream: $out"
pb_log "epochs 2 and 3 again: $out; sink $(pb_node_json col /api/v1/sinks/js -c .jetstream)"
[ "$(js_field_of records)" = 1010 ] || fail "stored $(js_field_of records) records, expected 1010"
[ "$(js_field_of duplicates)" = 25 ] || fail "duplicates: $(js_field_of duplicates), expected 25"
[ "$(js_field_of late)" = 1 ] || fail "late records: $(js_field_of late), expected 1 (epoch 3's 13)"

# ---- idle streams are forgotten after stream_idle_s ----
pb_wait_until 10 "every stream to be forgotten after 2 s idle" \
    pb_node_true col /api/v1/sinks/js '.jetstream.streams == 0'
ev=$(js_field_of streams_evicted)
out=$(upstream "40:21-30") || fail "upstream: $out"
pb_log "epoch 40 again: $out; sink $(pb_node_json col /api/v1/sinks/js -c .jetstream)"
[ "$(js_field_of records)" = 1015 ] || fail "stored $(js_field_of records) records, expected 1015"
[ "$(js_field_of duplicates)" = 30 ] || fail "duplicates: $(js_field_of duplicates), expected 30"
[ "$(js_field_of streams)" = 1 ] || fail "streams: $(js_field_of streams), expected 1"
[ "$ev" -ge 40 ] || fail "forgotten streams before epoch 40's return: $ev, expected at least 40"
[ "$(js_field_of errors)" = 0 ] || fail "sink errors: $(js_field_of errors)"

pb_node_stop col 20
pb_node_exit_ok col SIGTERM
# Another client: every origin seq once (pbnats fails on a duplicate).
js_check "$URL" PBS pb
[ "$(js_field records)" = 1015 ] || fail "the stream holds $(js_field records) records, expected 1015"
[ "$(js_field subjects)" = 40 ] || fail "the stream has $(js_field subjects) subjects, expected 40"
pb_no_crash col
pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A stream that holds foreign messages besides ours: a subject outside the
# prefix, a payload that is not ours on one of our subjects, our headers on
# a payload that does not decode, a count that does not match. The source
# skips and counts each, never crashes, and still reads every record.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_tools curl jq
require_built
js_require
pb_setup
T=$PB_TMP
N=20000
"$PBGEN" --count $N --size 200 --seed 5 -o "$T/in.pcap"

pb_ports 3
js_conf nats "${PB_PORTS[0]}"
js_start nats
URL=$(js_url nats)
# The stream exists already (create = false below) and takes more subjects.
"$PBNATS" "$URL" create MIXED 1 'pb.>' 'other.>' || fail "cannot create the stream"
"$PBNATS" "$URL" pub other.thing "not ours" || fail "publish"
"$PBNATS" "$URL" pub pb.9.9.9 "plain text on our subject" || fail "publish"
"$PBNATS" "$URL" pub pb.9.9.9 "garbage that is not a wire message" Pb-Format=pb-wire-1 \
    Pb-Count=1 || fail "publish"
# A valid-looking wire header (magic "PB", version 1) cut short.
"$PBNATS" "$URL" pub pb.9.9.8 "PB" Pb-Format=pb-wire-1 Pb-Count=0x || fail "publish"

pb_node_conf writer 71 "${PB_PORTS[1]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; } );
dump = { name = "js"; jetstream = { servers = [ "$URL" ]; stream = "MIXED"; create = false; }; };
CONF
pb_node writer -x
pb_node_wait_exit writer 60
pb_node_exit_ok writer "writer (--exit-on-finish)"
"$PBNATS" "$URL" pub other.later "after ours" || fail "publish"

js_check "$URL" MIXED pb
[ "$(js_field records)" = $N ] || fail "the stream holds $(js_field records) of our records, expected $N"
[ "$(js_field foreign)" = 5 ] || fail "the audit counts $(js_field foreign) foreign messages, expected 5"

pb_node_conf reader 72 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "back"; jetstream = { servers = [ "$URL" ]; stream = "MIXED"; create = false; }; } );
dump = { file = "out/r.pcapng"; };
CONF
pb_node reader
pb_wait_until 60 "the reader to deliver $N records and skip 5 messages" \
    pb_node_true reader /api/v1/sources/back ".packets >= $N and .foreign >= 5"
sleep 0.5
pb_log "reader source: $(pb_node_json reader /api/v1/sources/back -c '{state, packets, foreign, read_errors}')"
pb_node_true reader /api/v1/sources/back ".foreign == 5 and .packets == $N" ||
    fail "expected exactly 5 foreign messages and $N records"
pb_node_grep reader 'skipping a message on .other.thing.' || fail "no log line names the foreign subject"
pb_node_stop reader
pb_node_exit_ok reader SIGTERM
mapfile -t outs < <(pb_outputs_ng "$T/reader/out")
pb_cmp --ts --origin 71 "$T/in.pcap" "${outs[@]}"
pb_no_crash writer reader
pass

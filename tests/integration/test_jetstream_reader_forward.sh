#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A node reads a stream back and forwards it to a collector. Records of
# another origin leave it with its own hop, as relayed records do: the
# collector binds an origin to the link's node or to its last hop, and
# refused them before. The collector is stopped (SIGSTOP) when the reader
# starts: nothing reaches custody, so no message is acknowledged to the
# stream; after SIGCONT every record arrives once, in order per origin,
# with the reader's hop, and every message is acknowledged.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_tools curl jq tshark
require_built
js_require
pb_setup
T=$PB_TMP
N=100000
"$PBGEN" --count $N --size 400 --seed 33 -o "$T/in.pcap"

pb_ports 6
js_conf nats "${PB_PORTS[0]}"
js_start nats
URL=$(js_url nats)
TP=${PB_PORTS[1]}

# Small messages (16 KiB): many of them.
pb_node_conf writer 81 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; } );
dump = { name = "js"; jetstream = { servers = [ "$URL" ]; stream = "PBB"; batch_kb = 16; }; };
CONF
pb_node writer -x
pb_node_wait_exit writer 60
pb_node_exit_ok writer "writer (--exit-on-finish)"
js_check "$URL" PBB pb
MSGS=$(js_field messages)
[ "$(js_field records)" = $N ] || fail "the stream holds $(js_field records) records, expected $N"

pb_node_conf col 82 "${PB_PORTS[3]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c.pcapng"; };
CONF
# The collector is stopped before the reader starts: the link does not
# come up until SIGCONT and nothing reaches custody. The resend timeout
# is far beyond the test's length, so that no record expires meanwhile
# however slow the host.
pb_node_conf reader 83 "${PB_PORTS[4]}" <<CONF
captures = ( { name = "back"; jetstream = { servers = [ "$URL" ]; stream = "PBB"; }; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 600; };
CONF
pb_node col
pb_node_kill col STOP
pb_node reader

# Custody stands still: wait until the consumer's delivered count stops.
cinfo() { "$PBNATS" "$URL" cinfo PBB back; }
ci_field() { printf '%s\n' "$CI" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
last=-1
stalled() {
	CI=$(cinfo) || return 1
	local d
	d=$(ci_field delivered)
	[ "$d" -gt 0 ] && [ "$d" = "$last" ] && return 0
	last=$d
	sleep 0.5
	return 1
}
pb_wait_until 30 "the reader to stall behind the stopped collector" stalled
pb_log "stalled: $CI (of $MSGS messages)"
[ "$(ci_field ack_pending)" = "$(ci_field delivered)" ] ||
    fail "messages acknowledged while the collector holds nothing: $CI"
pb_node_true reader /api/v1/sources/back '.state == "running"' ||
    fail "reader source: $(pb_node_json reader /api/v1/sources/back -c .)"

pb_node_kill col CONT
pb_wait_until 60 "the collector to hold $N records" \
    pb_node_true col /api/v1/sinks/dump ".packets >= $N"
pb_wait_until 20 "the reader to have every message acknowledged" \
    sh -c "'$PBNATS' '$URL' cinfo PBB back | grep -q 'ack_pending=0 .* delivered=$MSGS\$'"
pb_node_stop reader
pb_node_exit_ok reader SIGTERM
pb_node_stop col
pb_node_exit_ok col SIGTERM
! pb_node_grep reader "delivered again" || fail "the reader saw redeliveries: $(grep 'delivered again' "$T"/reader*.log | head -3)"
mapfile -t outs < <(pb_outputs_ng "$T/col/out")
pb_cmp --ts --origin 81 "$T/in.pcap" "${outs[@]}"
hops=$(for f in "${outs[@]}"; do tshark -r "$f" -T fields -e frame.comment 2>/dev/null; done |
    grep -c ' hops=2 83(reader):seq=[0-9]*:ts=[0-9.]* 82(col):' || true)
[ "$hops" = "$(pb_count "${outs[@]}")" ] ||
    fail "$hops of the collector's frames carry the reader's hop: $(tshark -r "${outs[0]}" -T fields -e frame.comment -c 1 2>/dev/null)"
pb_no_crash writer reader col
pass

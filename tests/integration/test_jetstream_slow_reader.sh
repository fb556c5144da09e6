#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A jetstream reader behind a slow link (80 Mbit/s, tc tbf on a veth pair
# between two namespaces) reads a 100 MB stream. Each pull asks for 16 MiB,
# more than the link carries before the pull expires (500 ms). A reader
# that pulled again at once would pile pull after pull on the server until
# its pending bytes for the client passed max_pending (64 MB), and the
# server would cut it off as a slow consumer: what was in flight comes back
# only after the 60 s ack wait, out of order. The reader waits for what is
# in flight (a PING/PONG behind it) before it pulls again: no slow
# consumer, every record once, in order per origin, well within the ack
# wait.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/js_lib.sh"

require_root
require_tools ip tc curl jq
require_built
js_require
pb_setup
T=$PB_TMP
N=100000
"$PBGEN" --count $N --size 1000 --seed 35 -o "$T/in.pcap"

pb_netns srv
NS_S=$PB_NS
pb_netns rd
NS_R=$PB_NS
VS=vjs$$ VR=vjr$$
VS=${VS:0:15} VR=${VR:0:15}
pb_veth2 "$NS_S" "$VS" "$NS_R" "$VR"
NET=10.78.$(($$ % 250)).
ip -n "$NS_S" addr add "${NET}1/24" dev "$VS"
ip -n "$NS_R" addr add "${NET}2/24" dev "$VR"

mkdir -p "$T/nats/store"
printf 'server_name: slow\nlisten: %s1:4222\njetstream { store_dir: "%s/nats/store" }\n' \
    "$NET" "$T" >"$T/nats/nats.conf"
pb_start nats "$NS_S" -- nats-server -c "$T/nats/nats.conf"
pb_wait_until 20 "nats-server to be ready" grep -q "Server is ready" "$T/nats.log"
URL=nats://${NET}1:4222

# The writer sits beside the server: only the reader is behind the slow link.
pb_node_conf writer 85 8080 "$NS_S" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; } );
dump = { name = "js"; jetstream = { servers = [ "$URL" ]; stream = "PBS"; }; };
CONF
pb_node writer -x
pb_node_wait_exit writer 60
pb_node_exit_ok writer "writer (--exit-on-finish)"

tc -n "$NS_S" qdisc add dev "$VS" root tbf rate 80mbit burst 64kb latency 100ms ||
    fail "cannot shape $VS (tc tbf)"
pb_node_conf reader 86 8080 "$NS_R" <<CONF
captures = ( { name = "back"; jetstream = { servers = [ "$URL" ]; stream = "PBS"; }; } );
dump = { file = "out/r.pcapng"; };
CONF
start=$SECONDS
pb_node reader
# 100 MB at 80 Mbit/s: about 10 s; a redelivery would take over 60 s.
pb_wait_until 50 "the reader to deliver $N records" \
    pb_node_true reader /api/v1/sources/back ".packets >= $N"
pb_log "reader: $N records in $((SECONDS - start)) s over 80 Mbit/s"
pb_node_stop reader
pb_node_exit_ok reader SIGTERM
if grep -q "Slow Consumer" "$T/nats.log"; then
	fail "the server cut a client off: $(grep 'Slow Consumer' "$T/nats.log")"
fi
! pb_node_grep reader "delivered again" ||
    fail "the reader saw redeliveries: $(grep -h 'delivered again' "$T"/reader*.log | head -3)"
mapfile -t outs < <(pb_outputs_ng "$T/reader/out")
pb_cmp --ts --origin 85 "$T/in.pcap" "${outs[@]}"
pb_no_crash writer reader
pass

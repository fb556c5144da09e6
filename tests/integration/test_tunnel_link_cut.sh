#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Link cut between two network namespaces: the edge (namespace A,
# 10.77.x.1) streams to the collector (namespace B, 10.77.x.2) over a veth
# pair. While the stream runs, the edge's veth goes down for 3 s: longer
# than heartbeat dead_after (1 s), so the link is declared dead, shorter
# than resend.timeout (20 s), so nothing goes to the DLQ. Once the veth is
# up again the edge reconnects and resumes from the acknowledged point:
# /peers shows reconnects > 0 and records resent (or link duplicates at
# the collector), and the output is the input exactly, in order.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools ip curl jq
require_built
pb_setup
T=$PB_TMP
N=300000
"$PBGEN" --count $N --sizes 64,128 --seed 14 -o "$T/in.pcap"

pb_netns edge
NS_E=$PB_NS
pb_netns col
NS_C=$PB_NS
VE=vpe$$ VC=vpc$$
VE=${VE:0:15} VC=${VC:0:15}
pb_veth2 "$NS_E" "$VE" "$NS_C" "$VC"
NET=10.77.$(($$ % 250)).
ip -n "$NS_E" addr add "${NET}1/24" dev "$VE"
ip -n "$NS_C" addr add "${NET}2/24" dev "$VC"

# Namespaces have their own ports: fixed ones are fine.
pb_node_conf col 92 8080 "$NS_C" <<CONF
listen = { address = "${NET}2"; port = 7152; };
auth = { allow_unauthenticated = true; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf edge 91 8080 "$NS_E" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 50000; } );
peers = ( { name = "col"; address = "${NET}2"; port = 7152; } );
resend = { timeout = 20; buffer_mb = 128; };
dlq = { path = "dlq.db"; };
CONF

pb_node col
pb_node edge
pb_wait_until 10 "the collector to write 50000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 50000'
ip -n "$NS_E" link set "$VE" down
pb_log "link cut at $(pb_sink_packets col) frames written"
# dead_after is 1 s: "slow" first, then down (or already reconnecting).
pb_wait_until 5 "the edge to declare the link dead" \
    pb_node_true edge /api/v1/peers/col '.state == "down" or .state == "connecting"'
pb_log "edge sees the link $(pb_peer edge col state): $(pb_node_json edge /api/v1/peers/col '.last_error // "no error"')"
sleep 2
ip -n "$NS_E" link set "$VE" up
pb_log "link up again at $(pb_sink_packets col) frames written"
pb_wait_until 15 "the edge to reconnect" pb_node_true edge /api/v1/peers/col '.state == "up"'
pb_log "edge /peers/col: $(pb_node_json edge /api/v1/peers/col -c '{state, reconnects, resent, to_dlq, records_sent, records_acked}')"
pb_wait_until 30 "the edge's source to finish" \
    pb_node_true edge /api/v1/sources/in '.state == "finished"'
pb_wait_until 20 "the edge to have nothing in flight" \
    pb_node_true edge /api/v1/peers/col '.in_flight == 0'
pb_wait_until 10 "the collector to write $N frames" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets >= $N"
pb_settle edge
pb_settle col
reconnects=$(pb_peer edge col reconnects)
resent=$(pb_peer edge col resent)
to_dlq=$(pb_peer edge col to_dlq)
pb_node_stop edge 20
pb_node_exit_ok edge "SIGTERM"
ldup=$(pb_peers_sum col link_duplicates)
lost=$(pb_peers_sum col link_lost)
missing=$(pb_gaps col missing_total)
pb_log "edge: reconnects $reconnects, resent $resent, to_dlq $to_dlq; collector: link_duplicates $ldup, link_lost $lost, missing $missing"
[ "$reconnects" -gt 0 ] || fail "edge: reconnects = $reconnects after the cut"
[ $((resent + ldup)) -gt 0 ] || fail "edge resent nothing and the collector saw no link duplicates"
[ "$to_dlq" = 0 ] || fail "edge: $to_dlq record(s) went to the DLQ during a 3 s cut (timeout 20 s)"
[ "$lost" = 0 ] || fail "collector: link_lost $lost"
[ "$missing" = 0 ] || fail "collector: /gaps missing_total $missing"
pb_node_stop col 20
pb_node_exit_ok col "SIGTERM"

mapfile -t outs < <(pb_outputs_ng "$T/col/out")
total=$(pb_count "${outs[@]}")
pb_log "output: $total frames"
[ "$total" = $N ] || fail "output has $total frames, expected $N"
pb_cmp --ts --multiset "$T/in.pcap" "${outs[@]}"
pb_cmp --ts --origin 91 "$T/in.pcap" "${outs[@]}"
pb_no_crash edge col
pass

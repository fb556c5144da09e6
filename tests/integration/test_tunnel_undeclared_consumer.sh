#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Consumers that dial in without being declared (`consumers`), on 127.0.0.1.
#  (a) default: the edge refuses a collector that wants its records
#      (ERROR node-id), counts it in tunnel.refused.undeclared_consumer and
#      keeps no entry (nor records) for it.
#  (b) listen.accept_undeclared_consumers = true: the collector is served;
#      killed with -9, it stays away longer than resend.timeout, so the
#      edge removes it: its unacknowledged records go to the DLQ (reason
#      peer_removed, or timeout for the oldest) and it leaves /peers. The
#      edge's capture ends before the removal, so every frame from its
#      first connection on was meant for it. Once it is back it continues the link's numbering (the edge's
#      link epoch did not change), and a replay of those rows completes its
#      output: every frame exactly once.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq editcap
require_built
pb_setup
T=$PB_TMP
N=150000
"$PBGEN" --count $N --size 80 --seed 33 -o "$T/in.pcap"

confs() { # TAG ACCEPT RESEND_TIMEOUT
	pb_ports 3
	TP=${PB_PORTS[0]}
	pb_node_conf "edge$1" 1 "${PB_PORTS[1]}" <<CONF
captures = ( { name = "in"; file = "$T/in.pcap"; rate = 30000; } );
listen = { address = "127.0.0.1"; port = $TP; accept_undeclared_consumers = $2; };
resend = { timeout = $3; buffer_mb = 64; };
dlq = { path = "dlq.db"; };
CONF
	pb_node_conf "col$1" 100 "${PB_PORTS[2]}" <<CONF
upstreams = ( { name = "edge"; address = "127.0.0.1"; port = $TP; } );
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
}

# ---- (a) refused by default ----
confs a false 1
pb_node edgea
pb_node cola
pb_wait_until 10 "edge a to refuse the undeclared consumer" \
    pb_node_true edgea /api/v1/peers '.tunnel.refused.undeclared_consumer > 0'
pb_node_grep edgea 'is not in `consumers`' || fail "(a) edge: no log line naming the refusal"
n=$(pb_node_json edgea /api/v1/peers '[.peers[] | select(.direction == "downstream")] | length')
[ "$n" = 0 ] || fail "(a) edge: $n downstream peer(s) for an undeclared consumer"
[ "$(pb_sink_packets cola)" = 0 ] || fail "(a) collector: wrote records of an edge that refused it"
pb_node_json cola /api/v1/peers/edge .last_error | grep -q node-id ||
    fail "(a) collector: last_error does not say node-id: $(pb_node_json cola /api/v1/peers/edge .last_error)"
for n in cola edgea; do pb_node_stop "$n" 20; done

# ---- (b) accepted, then removed after resend.timeout ----
confs b true 8
pb_node edgeb
pb_node colb
pb_wait_until 15 "collector b to write 20000 frames" \
    pb_node_true colb /api/v1/sinks '.sinks[0].packets >= 20000'
name=$(pb_node_json edgeb /api/v1/peers '[.peers[] | select(.direction == "downstream")][0].name')
pb_log "(b) consumer served as '$name'"
pb_node_kill colb KILL
pb_node_wait_exit colb 5
pb_wait_until 30 "edge b's source to finish" pb_source_is "${PB_NODE_API[edgeb]}" in state finished
[ "$(pb_node_json edgeb /api/v1/peers '[.peers[] | select(.direction == "downstream")] | length')" = 1 ] ||
    fail "(b) edge: the consumer was removed before the capture ended (raise resend.timeout)"
pb_wait_until 20 "edge b to remove the consumer" \
    pb_node_true edgeb /api/v1/peers '[.peers[] | select(.direction == "downstream")] | length == 0'
pb_node_grep edgeb "removed" || fail "(b) edge: no log line about the removal"
pb_settle edgeb
removed=$(pb_dlq edgeb .total "reason=peer_removed")
pb_log "(b) edge DLQ: $(pb_dlq edgeb -c '{total, stats}') ; peer_removed rows: $removed"
[ "$removed" -gt 0 ] || fail "(b) edge: no DLQ row with reason peer_removed"
pb_node colb
pb_wait_until 15 "the consumer to be back" \
    pb_node_true edgeb /api/v1/peers '[.peers[] | select(.direction == "downstream" and .state == "up")] | length == 1'
id=$(pb_replay edgeb "{\"peer\": \"$name\"}")
pb_replay_wait edgeb "$id" 60
pb_log "(b) replay: $(jq -c '{state, fetched, sent, acked, deleted}' <<<"$PB_JOB")"
rows=$(pb_dlq edgeb .total)
[ "$rows" = 0 ] || fail "(b) edge: $rows row(s) left in the DLQ after the replay"
sleep 0.5
pb_settle colb
for n in colb edgeb; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done
mapfile -t outs < <(pb_outputs_ng "$T/colb/out")
written=$(pb_count "${outs[@]}")
pb_log "(b) collector output: $written frames"
# Nothing is kept for an undeclared consumer before it first connects, so
# the output is the input from some frame on: exactly that suffix, each
# frame once (order aside: the replayed ones came last).
[ "$written" -ge 20000 ] && [ "$written" -le $N ] || fail "(b) collector output: $written frames"
editcap -F pcap -r "$T/in.pcap" "$T/tail.pcap" "$((N - written + 1))-$N" >/dev/null ||
    fail "editcap failed"
pb_cmp --ts --multiset "$T/tail.pcap" "${outs[@]}"
pb_no_crash edgeb colb
pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Undeclared consumer. Node 5004 (a real node, its own key in the
# collector's keyring) dials the collector with the RECV flag, asking to be
# sent records, although the collector's `consumers` does not name it.
# Accepted, it gets a copy of every record, and since custody then waits
# for its ACKs, which it never sends, the collector stops acknowledging
# the real edge, whose resend buffer fills.
#
# Fixed behaviour: ERROR node-id, refused.undeclared_consumer moves, no
# entry for node 5004 appears in /api/v1/peers, the attacker receives no
# record, and the edge's acknowledged count keeps growing meanwhile. The
# collector's output equals the edge's input (multiset and order).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
N=30000
"$PBGEN" --count $N --sizes 64,200 --seed 105 -o "$T/in.pcap"
atk_col_conf </dev/null
atk_edge_conf "$T/in.pcap" 3000 </dev/null

pb_node col
pb_node edge -x
pb_wait_until 15 "the edge to have 2000 records acknowledged" \
    pb_node_true edge /api/v1/peers/col '.records_acked >= 2000'
uc0=$(atk_refused col undeclared_consumer)

atk_py_bg consumer <<'EOF'
import os, sys, time, pbwire
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
try:
    l.handshake(5004, 9, "recv", key, resume_seq=0)
except pbwire.PeerError as e:
    print("handshake=refused code=%s" % e.name, flush=True)
    sys.exit(0)
print("handshake=ok", flush=True)
recs, err = 0, None
deadline = time.monotonic() + 5
while time.monotonic() < deadline and not l.closed:
    m = l.recv_msg(deadline - time.monotonic())   # never ACKs
    if m is None:
        continue
    if m.type == pbwire.ERROR:
        err = m
        break
    recs += m.type == pbwire.RECORD
closed, e2, _ = l.wait_close(0.5)
err = err or e2
print("result records=%d closed=%d error=%s" % (recs, closed or l.closed,
      err.code_name if err else "none"), flush=True)
EOF
CONS=$PB_PID
pb_wait_until 10 "the consumer's handshake" grep -q '^handshake=' "$T/consumer.log"
a0=$(pb_peer edge col records_acked)
sleep 3
a1=$(pb_peer edge col records_acked)
pb_log "edge records_acked during the 3 s after the consumer's handshake: $a0 -> $a1"
[ $((a1 - a0)) -ge 3000 ] || atk_fail "the edge's ACKs stalled while node 5004 was connected as a consumer: acked $a0 -> $a1 in 3 s (3000 records/s sent)"
pb_settle col
entries=$(pb_node_json col /api/v1/peers '[.peers[] | select(.node.id == 5004)] | length')
[ "$entries" = 0 ] || atk_fail "/api/v1/peers has $entries entry(ies) for node 5004: $(pb_node_json col /api/v1/peers -c '[.peers[] | select(.node.id == 5004) | {name, state, direction, records_sent, records_acked, in_flight}]')"
pb_wait_exit "$CONS" 15
r=$(tr '\n' ' ' <"$T/consumer.log")
pb_log "undeclared consumer node 5004: $r"
case "$(atk_field "$r" handshake):$(atk_field "$r" code):$(atk_field "$r" error)" in
refused:node-id:* | ok::node-id) ;;
*) atk_fail "an undeclared consumer was not refused with ERROR node-id: $r" ;;
esac
recs=$(atk_field "$r" records)
[ "${recs:-0}" = 0 ] || atk_fail "the undeclared consumer received $recs record(s)"
atk_counter_moved col undeclared_consumer "$uc0" "consumer not in 'consumers'"

atk_edge_done 45
pb_settle col
pb_log "collector: $(pb_node_json col /api/v1/peers -c '[.peers[] | {name, node: .node.id, direction, state}]')"
atk_col_stop
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass

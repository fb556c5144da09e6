#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ACK ahead and resume ahead, seen from the edge. A fake collector
# (pbwire.py listening on the collector's address, holding the key the
# edge shares with node 100) lets the edge dial it, takes a few records
# and then:
#   1. answers ACK 2^64-1: "I hold everything you will ever send". The edge
#      must refuse it (ERROR malformed, close), count refused.ack_ahead and
#      free nothing: believed, it drops its whole resend buffer, records
#      the collector never had.
#   2. on the edge's reconnect, says WELCOME resume_seq 2^64-2: the same
#      claim at resume time. Refused, refused.resume_ahead moves, nothing
#      freed.
# Then the fake goes away and the real collector starts on the same
# address: it receives every record of the edge (output = input, multiset
# and order, timestamps included).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
N=20000
"$PBGEN" --count $N --sizes 64,300 --seed 104 -o "$T/in.pcap"
atk_col_conf </dev/null
atk_edge_conf "$T/in.pcap" 2000 </dev/null

atk_py_bg fake <<'EOF'
import os, sys, pbwire
key = bytes.fromhex(os.environ["ATK_KEY_EDGE"])
lst = pbwire.Listener("127.0.0.1", int(os.environ["ATK_TP"]))
print("listening", flush=True)

def session(resume, ack):
    l = lst.accept(timeout=20)
    try:
        info = l.handshake(100, 777, "recv", key, resume_seq=resume)
    except pbwire.PeerError as e:
        return l, "handshake=refused code=%s" % e.name
    recs = 0
    if ack is not None:
        while recs < 50:
            m = l.recv_msg(5)
            if m is None or m.type == pbwire.ERROR:
                break
            recs += m.type == pbwire.RECORD
        l.send_ack(ack)
    closed, err, seen = l.wait_close(4)
    recs += sum(m.type == pbwire.RECORD for m in seen)
    return l, "handshake=ok records=%d closed=%d error=%s" % (
        recs, closed, err.code_name if err else "none")

l, r = session(0, pbwire.U64_MAX)
l.close()
print("phase1", r, flush=True)
l, r = session(pbwire.U64_MAX - 1, None)
l.close()
print("phase2", r, flush=True)
lst.close()
print("done", flush=True)
EOF
FAKE=$PB_PID
pb_wait_until 10 "the fake collector to listen" grep -q listening "$T/fake.log"
pb_node edge -x

aa0=0 ra0=0
pb_wait_until 20 "the fake collector's first session" grep -q '^phase1' "$T/fake.log"
r1=$(grep '^phase1' "$T/fake.log")
pb_log "1. ACK 2^64-1 after 50 records: $r1"
[ "$(atk_field "$r1" handshake)" = ok ] || fail "the edge did not complete a handshake with the fake collector: $r1"
[ "$(atk_field "$r1" error)" = malformed ] || atk_fail "1: the edge did not answer ACK 2^64-1 with ERROR malformed: $r1"
[ "$(atk_field "$r1" closed)" = 1 ] || atk_fail "1: the edge did not close the link after ACK 2^64-1"
atk_counter_moved edge ack_ahead "$aa0" "1: ACK above the highest link seq sent"
acked=$(pb_peer edge col records_acked)
pb_log "edge after ACK 2^64-1: $(pb_node_json edge /api/v1/peers/col -c '{state, records_sent, records_acked, acked_seq, in_flight, next_seq}')"
[ "$acked" = 0 ] || atk_fail "1: the edge freed $acked record(s) on a forged ACK (the collector holds none)"

pb_wait_until 20 "the fake collector's second session" grep -q '^phase2' "$T/fake.log"
r2=$(grep '^phase2' "$T/fake.log")
pb_log "2. WELCOME resume_seq 2^64-2: $r2"
[ "$(atk_field "$r2" error)" != none ] || atk_fail "2: the edge accepted WELCOME resume_seq 2^64-2 without an ERROR: $r2"
[ "$(atk_field "$r2" records)" = 0 ] || atk_fail "2: the edge sent $(atk_field "$r2" records) record(s) after a resume point it never reached"
atk_counter_moved edge resume_ahead "$ra0" "2: WELCOME resume_seq above the next link seq"
pb_wait_exit "$FAKE" 10
acked=$(pb_peer edge col records_acked)
pb_log "edge after WELCOME 2^64-2: $(pb_node_json edge /api/v1/peers/col -c '{state, records_sent, records_acked, acked_seq, in_flight, next_seq}')"
[ "$acked" = 0 ] || atk_fail "2: the edge freed $acked record(s) on a forged resume point"
pb_log "edge counters: $(atk_refused_all edge)"

pb_log "the real collector starts on the same address"
pb_node col
atk_edge_done 45
pb_settle col
pb_log "collector node 1: $(pb_node_json col /api/v1/peers -c '[.peers[] | select(.node.id == 1) | {state, records_received, link_duplicates, link_lost, dlq_announced}]')"
atk_col_stop
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass

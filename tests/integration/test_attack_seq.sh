#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Sequence numbers at the edge of their range, from node 5004 (a real node
# with its own key, sending records of its own origin), while the real
# edge streams to the collector:
#   1. a RECORD with origin_seq 2^64-1: the gap tracker's arithmetic wraps
#      there. Refused, refused.seq_wrap moves, never acknowledged nor
#      written.
#   2. link_seq 1..5, then 2^63: a jump of 2^63. Counted as lost it adds
#      2^63 to link_lost. It must be refused as a protocol error, or at
#      least counted sanely: link_lost < 2^32.
# The edge's records all arrive (origin 1 = its input, in order); of node
# 5004's, the output holds the accepted ones: the first 5 (or 6) of what it
# sent, in order.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
N=30000
"$PBGEN" --count $N --sizes 64,128 --seed 109 -o "$T/in.pcap"
"$PBGEN" --count 6 --size 96 --seed 110 --start-ts 1710000000 -o "$T/atk.pcap"
atk_col_conf </dev/null
atk_edge_conf "$T/in.pcap" 4000 </dev/null
pb_node col
pb_node edge -x
pb_wait_until 15 "the collector to write 2000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 2000'

# ---- 1. origin_seq 2^64-1 ----
sw0=$(atk_refused col seq_wrap)
out=$(atk_py "$T/atk.pcap" <<'EOF' | tr '\n' ' '
import os, sys, pbwire
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
info = l.handshake(5004, 11, "send", key)
l.send_node(5004, "node5004")
l.send_source(5004, 1, 1, "wrap")
l.send_record(info.resume_seq + 1, 5004, 1, 1, 11, pbwire.U64_MAX, 1720000000000000000,
              pbwire.simple_frame(7, 90))
l.pump(2)
err = next((m for m in l.received if m.type == pbwire.ERROR), None)
acks = [m.link_seq for m in l.received if m.type == pbwire.ACK]
print("closed=%d error=%s acked=%d" % (l.closed, err.code_name if err else "none",
                                       any(a > info.resume_seq for a in acks)))
EOF
) || fail "attacker script failed: $out"
pb_log "1. origin_seq 2^64-1: $out"
[ "$(atk_field "$out" acked)" = 0 ] || atk_fail "1: a record with origin_seq 2^64-1 was acknowledged"
atk_counter_moved col seq_wrap "$sw0" "1: origin_seq 2^64-1"

# ---- 2. link_seq 1..5, then 2^63 ----
out=$(atk_py "$T/atk.pcap" <<'EOF' | tr '\n' ' '
import os, sys, pbwire
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
frames = pbwire.read_pcap(sys.argv[1])
l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
info = l.handshake(5004, 12, "send", key)
l.send_node(5004, "node5004")
l.send_source(5004, 0, 1, "jump")
seqs = [info.resume_seq + i for i in range(1, 6)] + [1 << 63]
for i, (ts, frame) in enumerate(frames):
    l.send_record(seqs[i], 5004, 0, 1, 12, i + 1, ts, frame)
l.pump(2)
err = next((m for m in l.received if m.type == pbwire.ERROR), None)
acks = [m.link_seq for m in l.received if m.type == pbwire.ACK]
print("resume=%d closed=%d error=%s max_ack=%d" % (info.resume_seq, l.closed,
      err.code_name if err else "none", max(acks) if acks else 0))
EOF
) || fail "attacker script failed: $out"
pb_log "2. link_seq 1..5, then 2^63: $out"
pb_settle col
lost=$(atk_up_u64 col 5004 link_lost)
pb_log "2: node 5004's link_lost: ${lost:-no entry}; collector: $(atk_refused_all col)"
[ "$(python3 -c "import sys; print(int(sys.argv[1] or 0) < 2**32)" "$lost")" = True ] ||
    atk_fail "2: a link_seq jump of 2^63 counted $lost records as lost on node 5004's link"

atk_edge_done 45
pb_settle col
atk_col_stop
atk_outputs
n5004=$("$PBCMP" --origin 5004 --count "${ATK_OUTS[@]}")
pb_log "node 5004's frames in the output: $n5004 (5 accepted before the jump, 6 if the jump was accepted)"
case "$n5004" in
5 | 6) pb_cmp --ts --prefix --origin 5004 "$T/atk.pcap" "${ATK_OUTS[@]}" ;;
*) atk_fail "the output holds $n5004 frame(s) of node 5004, expected its 5 (or 6) accepted records" ;;
esac
atk_no_loss "$T/in.pcap" $N "$n5004"
pb_no_crash col edge
atk_pass

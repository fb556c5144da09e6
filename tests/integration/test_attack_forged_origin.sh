#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Forged origins. Node 5004 is a real node with its own key, but it sends
# RECORDs that claim to come from node 1 (the edge): origin (1, source,
# node 1's epoch) with origin_seqs ahead of the ones the edge is about to
# send. Believed, the forged frames are written as node 1's, and when the
# real records with those origin_seqs arrive the collector drops them as
# origin duplicates: 3000 real frames lost, 3000 fake ones in their place.
#   A. no hops: the origin is neither the link's node nor the last hop:
#      refused (ERROR, close), refused.origin_unbound moves.
#   B. a hop list ending in 5004 (as if it relayed them) while node 1's
#      own link is up: the stream belongs to that link: refused,
#      refused.stream_owned moves.
# The collector's output equals the edge's input exactly: no forged frame
# written, no real frame dropped as a duplicate.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
N=80000
"$PBGEN" --count $N --sizes 64,128 --seed 103 -o "$T/in.pcap"
atk_col_conf </dev/null
atk_edge_conf "$T/in.pcap" 4000 </dev/null

pb_node col
pb_node edge -x
pb_wait_until 15 "the collector to write 3000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 3000'

# forge VARIANT FIRST_LINK_SEQ: 3000 records of node 1's stream, origin
# seqs from the stream's next expected + 8000 on (2 s ahead of the edge).
forge() {
	local stream
	stream=$(atk_pyjson col /api/v1/gaps "next('%d %d %d' % (s['origin']['source'], s['origin']['epoch'], s['expected_next']) for s in d['streams'] if s['origin']['node'] == 1)")
	[ -n "$stream" ] || fail "no origin stream of node 1 at the collector"
	atk_py "$1" $stream <<'EOF' | tr '\n' ' '
import os, sys, time, pbwire
variant, source, epoch, nxt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
try:
    info = l.handshake(5004, 42, "send", key)
except pbwire.PeerError as e:
    print("handshake=refused code=%s" % e.name)
    sys.exit(0)
print("handshake=ok resume=%d first_seq=%d" % (info.resume_seq, nxt + 8000))
l.send_node(5004, "node5004")
now = time.time_ns()
msgs = []
for i in range(3000):
    hops = [(5004, 0, i + 1, now)] if variant == "B" else []
    msgs.append(pbwire.enc_record(info.resume_seq + 1 + i, 1, source, 1, epoch,
                                  nxt + 8000 + i, now + i, pbwire.simple_frame(900000 + i, 80),
                                  hops))
try:
    l.send_many(msgs)
    sent = "all"
except pbwire.PeerError as e:
    sent = "cut"
except OSError:
    sent = "cut"
closed, err, seen = l.wait_close(3)
if err is None:
    err = next((m for m in l.pending + l.received if m.type == pbwire.ERROR), None)
acks = [m.link_seq for m in l.received if m.type == pbwire.ACK]
print("sent=%s closed=%d error=%s max_ack=%d" % (sent, closed or l.closed,
      err.code_name if err else "none", max(acks) if acks else 0))
EOF
}

ou0=$(atk_refused col origin_unbound)
out=$(forge A) || fail "attacker script failed: $out"
pb_log "A. 3000 records claiming origin 1, no hops: $out"
[ "$(atk_field "$out" handshake)" = ok ] || fail "node 5004 (in the keyring) could not connect: $out"
[ "$(atk_field "$out" error)" != none ] || atk_fail "A: records with another node's origin and no hops were not refused with an ERROR: $out"
[ "$(atk_field "$out" closed)" = 1 ] || atk_fail "A: the collector did not close the forging link"
[ "$(atk_field "$out" max_ack)" = 0 ] || atk_fail "A: the collector acknowledged forged records up to link seq $(atk_field "$out" max_ack)"
atk_counter_moved col origin_unbound "$ou0" "A: records of node 1 sent by node 5004 without hops"

for _ in $(seq 50); do
	atk_up_state_is col 1 up && break
	sleep 0.1
done
atk_up_state_is col 1 up || atk_fail "B: node 1's link is not up (edge done already?)"
so0=$(atk_refused col stream_owned)
out=$(forge B) || fail "attacker script failed: $out"
pb_log "B. 3000 records claiming origin 1 via hop 5004: $out"
nxt=$(($(atk_field "$out" first_seq) - 8000))
[ "$nxt" -le $((N - 2000)) ] ||
    fail "B: the edge was (nearly) done before B (next origin seq $nxt of $N): the test ran too slowly to attack a live stream"
[ "$(atk_field "$out" error)" != none ] || atk_fail "B: records of a stream owned by node 1's link were not refused with an ERROR: $out"
[ "$(atk_field "$out" closed)" = 1 ] || atk_fail "B: the collector did not close the forging link"
[ "$(atk_field "$out" max_ack)" = 0 ] || atk_fail "B: the collector acknowledged forged records up to link seq $(atk_field "$out" max_ack)"
atk_counter_moved col stream_owned "$so0" "B: node 1's stream sent by node 5004 while node 1 is up"

atk_edge_done 40
pb_settle col
pb_log "collector gaps: $(pb_node_json col /api/v1/gaps -c .totals)"
pb_log "collector: $(pb_node_json col /api/v1/peers -c '{tunnel, peers: [.peers[] | {name, node: .node.id, state, records_received, origin_duplicates}]}')"
atk_col_stop
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass

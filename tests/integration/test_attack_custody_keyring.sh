#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Custody hijack in keyring mode (pairwise keys). The attacker is a real
# node of the deployment, 5004, with its own key in the collector's
# keyring, and tries to pass for node 1 (the edge):
#   1. HELLO node 1 with its own key, while the edge is up: refused (ERROR
#      auth or node-id).
#   2. HELLO from node 7777, which has no keyring entry: ERROR node-id,
#      refused.unknown_node.
#   3. While the edge is frozen (SIGSTOP) and its link was dropped by
#      heartbeat timeout: HELLO node 1 with node 1's link epoch, its own
#      key, then DLQ_NOTICE resume+1 .. 2^64-2 if it got that far. Refused
#      at AUTH (auth_failures moves); node 1's custody point does not move.
# Afterwards the edge delivers everything: the collector's output equals
# its input (multiset and order, timestamps included).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
N=60000
"$PBGEN" --count $N --sizes 64,200 --seed 102 -o "$T/in.pcap"
atk_col_conf </dev/null
atk_edge_conf "$T/in.pcap" 4000 </dev/null

pb_node col
pb_node edge -x
pb_wait_until 15 "the collector to write 3000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 3000'

# One attempt: claim CLAIM (node id) with EPOCH and node 5004's key; if the
# handshake passes, send the forged notice. One line of key=value.
hijack() {
	atk_py "$@" <<'EOF' | tr '\n' ' '
import os, sys, pbwire
claim, epoch, c0 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
try:
    # verify=False: the collector's AUTH is made with node 1's key, which
    # we do not have; go on and hear its verdict on ours.
    info = l.handshake(claim, epoch, "send", key, verify=False)
except pbwire.PeerError as e:
    print("handshake=refused code=%s" % e.name)
    sys.exit(0)
print("handshake=ok resume=%d" % info.resume_seq)
l.send_dlq_notice(info.resume_seq + 1, pbwire.U64_MAX - 1, 1)
closed, err, seen = l.wait_close(2)
acks = [m.link_seq for m in seen if m.type == pbwire.ACK]
print("closed=%d error=%s acked_beyond=%d" % (closed, err.code_name if err else "none",
                                             any(a > c0 for a in acks)))
EOF
}

out=$(hijack 1 12345 0) || fail "attacker script failed: $out"
pb_log "1. node 5004 claims node 1 (edge up): $out"
case "$(atk_field "$out" handshake):$(atk_field "$out" code)" in
ok:*) atk_fail "node 5004 passed for node 1 with its own key: $out" ;;
refused:auth | refused:node-id) ;;
*) atk_fail "claiming node 1: expected ERROR auth or node-id, got: $out" ;;
esac

un0=$(atk_refused col unknown_node)
out=$(hijack 7777 1 0) || fail "attacker script failed: $out"
pb_log "2. node 7777 (not in the keyring): $out"
[ "$(atk_field "$out" code)" = node-id ] ||
    atk_fail "a node without a keyring entry was not refused with ERROR node-id: $out"
atk_counter_moved col unknown_node "$un0" "HELLO from an unknown node"

auth0=$(atk_tunnel col auth_failures)
pb_alive "${PB_NODE_PID[edge]}" || fail "the edge finished before step 3 (too slow a run?)"
pb_node_kill edge STOP
pb_log "edge frozen (SIGSTOP)"
pb_wait_until 10 "the collector to drop node 1's link (heartbeat timeout)" \
    atk_up_state_is col 1 down
pb_settle col
c0=$(atk_up_u64 col 1 custody_seq)
epoch=$(atk_up_u64 col 1 epoch)
pb_log "collector: node 1 link down, custody_seq $c0, link epoch $epoch"
out=$(hijack 1 "$epoch" "$c0") || fail "attacker script failed: $out"
pb_log "3. node 5004 claims node 1 (edge down), forged DLQ_NOTICE: $out"
case "$(atk_field "$out" handshake):$(atk_field "$out" code)" in
refused:auth | refused:node-id) ;;
*) atk_fail "node 5004 claiming node 1 while its link was down: expected ERROR auth or node-id, got: $out" ;;
esac
pb_settle col
auth1=$(atk_tunnel col auth_failures)
pb_log "collector auth_failures $auth0 -> $auth1"
[ "$auth1" -gt "$auth0" ] || atk_fail "collector: auth_failures did not move ($auth0 -> $auth1)"
c1=$(atk_up_u64 col 1 custody_seq)
pb_log "collector: node 1 custody_seq after the attack: $c1 (before $c0)"
[ "$c1" = "$c0" ] || atk_fail "node 1's custody point moved from $c0 to $c1 without a record"

pb_node_kill edge CONT
pb_log "edge continued (SIGCONT)"

atk_edge_done 40
pb_settle col
pb_log "collector node 1: $(pb_node_json col /api/v1/peers -c '[.peers[] | select(.node.id == 1) | {state, records_received, link_duplicates, link_lost, dlq_announced}]')"
pb_log "collector counters: $(atk_refused_all col)"
atk_col_stop
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Custody hijack in shared-PSK mode (auth.shared_psk = true). Every node
# knows the one key, so an attacker can claim to be node 1. While the real
# edge (node 1) is frozen (SIGSTOP) and the collector has dropped its link
# by heartbeat timeout, the attacker connects as node 1 with node 1's link
# epoch and sends DLQ_NOTICE resume+1 .. 2^64-2: "everything up to
# 2^64-2 went to my DLQ". Believed, the collector's custody point jumps
# there, it ACKs it, and when the real edge comes back its WELCOME says
# resume_seq 2^64-2: the edge frees every record it still held and the
# collector drops everything after as duplicates.
#
# Fixed behaviour: the notice is refused (ERROR malformed, close; counted
# as refused.notice_invalid, or refused.seq_wrap since the range reaches
# 2^63 and beyond), and so are a notice of 2^40 records and one that skips
# records (refused.notice_invalid); node 1's custody point does not move,
# and after SIGCONT the real edge delivers every record: the output equals
# its input (multiset and order, timestamps included).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
atk_mode shared
N=30000
"$PBGEN" --count $N --sizes 64,200 --seed 101 -o "$T/in.pcap"
atk_col_conf </dev/null
atk_edge_conf "$T/in.pcap" 10000 </dev/null

pb_node col
pb_node edge -x
pb_wait_until 15 "the collector to write 5000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 5000'
pb_node_kill edge STOP
pb_log "edge frozen (SIGSTOP)"
pb_wait_until 10 "the collector to drop node 1's link (heartbeat timeout)" \
    atk_up_state_is col 1 down
pb_settle col
c0=$(atk_up_u64 col 1 custody_seq)
epoch=$(atk_up_u64 col 1 epoch)
pb_log "collector: node 1 link down, custody_seq $c0, link epoch $epoch"

# notice FIRST LAST: as node 1 (its link epoch, the shared key), send
# DLQ_NOTICE FIRST..LAST, Python expressions of resume (the WELCOME's
# resume_seq) and U64_MAX. One line of key=value.
notice() {
	atk_py "$epoch" "$c0" "$1" "$2" <<'EOF' | tr '\n' ' '
import os, sys, pbwire
epoch, c0 = int(sys.argv[1]), int(sys.argv[2])
key = bytes.fromhex(os.environ["ATK_KEY_EDGE"])
l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
try:
    info = l.handshake(1, epoch, "send", key)
except pbwire.PeerError as e:
    print("handshake=refused code=%s" % e.name)
    sys.exit(0)
env = {"resume": info.resume_seq, "U64_MAX": pbwire.U64_MAX}
l.send_dlq_notice(min(eval(sys.argv[3], env), pbwire.U64_MAX),
                  min(eval(sys.argv[4], env), pbwire.U64_MAX), 1)
closed, err, seen = l.wait_close(4)
acks = [m.link_seq for m in seen if m.type == pbwire.ACK]
print("handshake=ok resume=%d closed=%d error=%s max_ack=%d acked_beyond=%d" % (
    info.resume_seq, closed, err.code_name if err else "none", max(acks) if acks else 0,
    any(a > c0 for a in acks)))
EOF
}

# check_notice WHAT OUTPUT: the notice must have been refused (ERROR
# malformed, close, nothing acknowledged past the custody point). Status 1
# when the handshake itself was refused (the notice never got there).
check_notice() {
	local what=$1 out=$2
	pb_log "$what: $out"
	[ -n "$(atk_field "$out" handshake)" ] || fail "attacker: no outcome: $out"
	if [ "$(atk_field "$out" handshake)" != ok ]; then
		pb_log "note: the collector refused the attacker's handshake already ($(atk_field "$out" code))"
		return 1
	fi
	[ "$(atk_field "$out" resume)" = "$c0" ] ||
	    pb_log "note: WELCOME resume $(atk_field "$out" resume), custody_seq was $c0"
	[ "$(atk_field "$out" acked_beyond)" = 0 ] ||
	    atk_fail "$what: the collector acknowledged link seq $(atk_field "$out" max_ack) to the attacker (custody was $c0): the forged DLQ_NOTICE was believed"
	[ "$(atk_field "$out" error)" = malformed ] ||
	    atk_fail "$what: the forged DLQ_NOTICE was not answered with ERROR malformed: $out"
	[ "$(atk_field "$out" closed)" = 1 ] || atk_fail "$what: the collector did not close the attacker's link"
	return 0
}

# 1. The whole sequence space: resume+1 .. 2^64-2.
ni0=$(atk_refused col notice_invalid)
sw0=$(atk_refused col seq_wrap)
out=$(notice "resume + 1" "U64_MAX - 1") || fail "attacker script failed: $out"
if check_notice "1. as node 1, DLQ_NOTICE resume+1 .. 2^64-2" "$out"; then
	pb_settle col
	ni1=$(atk_refused col notice_invalid)
	sw1=$(atk_refused col seq_wrap)
	pb_log "1: refused.notice_invalid $ni0 -> $ni1, refused.seq_wrap $sw0 -> $sw1"
	[ $((ni1 + sw1)) -gt $((ni0 + sw0)) ] ||
	    atk_fail "1: neither refused.notice_invalid nor refused.seq_wrap moved: $(atk_refused_all col)"
fi
# 2. Within range, but longer than any real spill: resume+1 .. resume+2^40.
ni0=$(atk_refused col notice_invalid)
out=$(notice "resume + 1" "resume + (1 << 40)") || fail "attacker script failed: $out"
if check_notice "2. as node 1, DLQ_NOTICE resume+1 .. resume+2^40" "$out"; then
	atk_counter_moved col notice_invalid "$ni0" "2: DLQ_NOTICE of 2^40 records"
fi
# 3. Not where the sequence is: resume+1000 .. resume+2000 skips records.
ni0=$(atk_refused col notice_invalid)
out=$(notice "resume + 1000" "resume + 2000") || fail "attacker script failed: $out"
if check_notice "3. as node 1, DLQ_NOTICE resume+1000 .. resume+2000" "$out"; then
	atk_counter_moved col notice_invalid "$ni0" "3: DLQ_NOTICE that skips records"
fi

pb_settle col
c1=$(atk_up_u64 col 1 custody_seq)
pb_log "collector: node 1 custody_seq after the attacks: $c1 (before $c0)"
[ "$c1" = "$c0" ] || atk_fail "node 1's custody point moved from $c0 to $c1 without a record"

pb_node_kill edge CONT
pb_log "edge continued (SIGCONT)"
atk_edge_done 40
pb_settle col
pb_log "collector node 1: $(pb_node_json col /api/v1/peers -c '[.peers[] | select(.node.id == 1) | {state, records_received, link_duplicates, link_lost, custody_seq, dlq_announced}]')"
pb_log "collector counters: $(atk_refused_all col)"
atk_col_stop
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass

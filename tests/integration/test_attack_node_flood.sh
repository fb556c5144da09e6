#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Announcement flood and rename. Node 5004 (a real node with its own key)
#   1. announces NODE 1 "evil-rename" and SOURCE (1, 0) "evil-source": it
#      may not rename another node's entries: refused.rename moves, and
#      /api/v1/peers, the pcapng section headers (capinfos) and the EPB
#      comments keep node 1's true name, "edge";
#   2. sends 150 000 NODE messages with distinct node ids, then connects
#      again and re-announces them all: refused.node_cap moves, and the
#      collector stays responsive throughout: GET /api/v1/status answers
#      200 within 1 s every time it is asked, the real edge's link never
#      goes down (its reconnect counter stays 0).
# The collector's output equals the edge's input (multiset and order).
# The collector rotates its output every second, so files opened after
# the attack show whether it took hold.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
require_tools capinfos
N=80000
"$PBGEN" --count $N --sizes 64,128 --seed 106 -o "$T/in.pcap"
atk_col_conf "" "rotate_seconds = 1;" </dev/null
atk_edge_conf "$T/in.pcap" 4000 </dev/null

pb_node col
pb_node edge -x
pb_wait_until 15 "the collector to write 2000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 2000'

# ---- 1. rename ----
rn0=$(atk_refused col rename)
out=$(atk_py <<'EOF' | tr '\n' ' '
import os, pbwire
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
info = l.handshake(5004, 5, "send", key)
l.send_node(5004, "node5004")
l.send_node(1, "evil-rename", "renamed by node 5004")
l.send_source(1, 0, 1, "evil-source", "renamed by node 5004")
l.pump(1.5)
err = next((m for m in l.received if m.type == pbwire.ERROR), None)
print("closed=%d error=%s" % (l.closed, err.code_name if err else "none"))
EOF
) || fail "attacker script failed: $out"
pb_log "1. node 5004 renames node 1 and its source: $out"
atk_counter_moved col rename "$rn0" "1: NODE/SOURCE for node 1 from node 5004"
name=$(pb_node_json col /api/v1/peers '[.peers[] | select(.node.id == 1) | .node.name] | first')
pb_log "collector /peers: node 1 is named \"$name\""
[ "$name" = edge ] || atk_fail "1: /api/v1/peers names node 1 \"$name\" after node 5004's NODE"

# ---- 2. flood ----
nc0=$(atk_refused col node_cap)
# Every 0.2 s: the status code and time of GET /status, and the age of
# the engine's last /peers snapshot (republished every 250 ms by the
# engine thread: a busy engine lets it age).
probe() {
	local r age auth=()
	[ ! -s "$T/col/api.token" ] || auth=(-H "Authorization: Bearer $(cat "$T/col/api.token")")
	while :; do
		# curl's own time (the process start-up is not the daemon's).
		r=$(ip netns exec "$ATK_NS" curl -s -o /dev/null -w '%{http_code} %{time_total}' \
		    --max-time 1 "http://127.0.0.1:$ATK_COL_API/api/v1/status" || true)
		age=$(ip netns exec "$ATK_NS" curl -s --max-time 1 "${auth[@]}" \
		    "http://127.0.0.1:$ATK_COL_API/api/v1/peers" | jq -r '.generated_age_ms // -1' 2>/dev/null || true)
		set -- $r
		echo "${1:-000} $(awk -v t="${2:-9}" 'BEGIN { printf "%d", t * 1000 }') ${age:--1}"
		sleep 0.2
	done
}
probe >"$T/probe.log" 2>&1 &
PROBE=$!
PB_PIDS+=("$PROBE")
out=$(atk_py <<'EOF' | tr '\n' ' '
import os, time, pbwire
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
msgs = [pbwire.enc_node(1000000 + i, "flood%d" % i, "") for i in range(150000)]
for rnd in (1, 2):
    t0 = time.monotonic()
    try:
        l = pbwire.Link.connect("127.0.0.1", int(os.environ["ATK_TP"]))
        l.handshake(5004, 5, "send", key)
    except (pbwire.PeerError, OSError) as e:
        print("round%d=refused(%s)" % (rnd, e))
        continue
    try:
        l.send_many(msgs)
        sent = "all"
    except (pbwire.PeerError, OSError, TimeoutError) as e:
        sent = "cut(%s)" % type(e).__name__
    l.pump(1.0)
    err = next((m for m in l.received if m.type == pbwire.ERROR), None)
    print("round%d=%s,error=%s,closed=%d,%.1fs" % (rnd, sent, err.code_name if err else "none",
          l.closed, time.monotonic() - t0))
    l.close()
EOF
) || fail "attacker script failed: $out"
sleep 1
kill "$PROBE" 2>/dev/null || true
wait "$PROBE" 2>/dev/null || true
pb_log "2. 2 x 150000 NODE messages: $out"
probes=$(wc -l <"$T/probe.log")
slow=$(awk '$1 != 200 || $2 > 1000' "$T/probe.log" | wc -l)
worst=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$T/probe.log")
pb_log "GET /api/v1/status during the flood: $probes probe(s), $slow failed or slower than 1 s, slowest $worst ms"
[ "$probes" -ge 3 ] || atk_fail "2: only $probes status probe(s) ran during the flood"
[ "$slow" = 0 ] || atk_fail "2: the collector's API did not answer within 1 s $slow time(s) out of $probes during the flood: $(awk '$1 != 200 || $2 > 1000' "$T/probe.log" | head -3 | tr '\n' ',')"
stale=$(awk '$3 < 0 || $3 > 1500' "$T/probe.log" | wc -l)
oldest=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$T/probe.log")
pb_log "engine snapshot age during the flood: oldest $oldest ms, $stale probe(s) above 1.5 s"
[ "$stale" = 0 ] || atk_fail "2: the collector's engine stalled during the flood: its /peers snapshot was up to $oldest ms old ($stale probe(s) above 1.5 s)"
case "$out" in
*"nothing within"*) atk_fail "2: the collector did not answer a new connection's HELLO within 5 s during the flood: $out" ;;
esac
atk_counter_moved col node_cap "$nc0" "2: 150000 node ids announced"
if pb_node_up edge; then
	reconn=$(pb_peer edge col reconnects)
	pb_log "edge /peers/col: $(pb_node_json edge /api/v1/peers/col -c '{state, reconnects, records_acked, last_error}')"
else
	reconn=$(grep -c "peer col .*: down" "$(pb_node_log edge)" || true)
	pb_log "edge done already; its log shows $reconn link drop(s)"
fi
[ "$reconn" = 0 ] || atk_fail "2: the edge's link to the collector went down during the flood ($reconn reconnect(s)): $(grep -m1 'down:' "$(pb_node_log edge)")"

atk_edge_done 45
pb_settle col
name=$(pb_node_json col /api/v1/peers '[.peers[] | select(.node.id == 1) | .node.name] | first')
[ "$name" = edge ] || atk_fail "/api/v1/peers names node 1 \"$name\" at the end"
pb_log "collector: $(atk_refused_all col)"
atk_col_stop
atk_outputs
pb_log "${#ATK_OUTS[@]} output file(s)"
bad_shb=0 bad_epb=0 ex_shb='' ex_epb=''
for f in "${ATK_OUTS[@]}"; do
	c=$(capinfos -k "$f" 2>/dev/null | sed -n 's/^Capture comment: *//p')
	case "; ${c#nodes: };" in
	*"; 1 edge;"* | *"; 1 edge ("*) ;;
	*) bad_shb=$((bad_shb + 1)); ex_shb="$(basename "$f"): ${c:0:160}" ;;
	esac
	if grep -aq evil "$f"; then
		bad_epb=$((bad_epb + $(grep -ao 'pb origin=1(evil[^)]*)' "$f" | wc -l)))
		ex_epb="$(grep -ao 'pb origin=1([^)]*) source=0([^)]*)' "$f" | sort | uniq -c | tr '\n' ',')"
	fi
done
pb_log "section headers naming node 1 otherwise than \"edge\": $bad_shb of ${#ATK_OUTS[@]} file(s); EPB comments naming it \"evil-...\": $bad_epb"
[ "$bad_shb" = 0 ] || atk_fail "$bad_shb of ${#ATK_OUTS[@]} output file(s) do not name node 1 \"edge\" in their section header, e.g. $ex_shb"
[ "$bad_epb" = 0 ] || atk_fail "$bad_epb frame(s) carry node 5004's name for node 1 in their EPB comment: $ex_epb"
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Tunnel authentication on 127.0.0.1 with per-node keys (auth.keyring). The
# collector and a good edge share a key; a bad edge presents the wrong key
# for its id; a stranger has no key in the collector's keyring; a raw client
# sends garbage to the tunnel port. The bad edge, the stranger and the
# garbage are refused with a clear log line and counters (auth_failures,
# refused.unknown_node, protocol_errors in /peers), the collector keeps
# running, and every record of the good edge arrives, none of the others'.
# The configuration check refuses key files open to group or others, and a
# shared PSK without auth.shared_psk.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq socat
require_built
pb_setup
T=$PB_TMP
N=20000
"$PBGEN" --count $N --size 100 --seed 15 -o "$T/good.pcap"
"$PBGEN" --count 1000 --size 100 --seed 16 -o "$T/bad.pcap"

umask 077
k101=$(openssl rand -hex 32) k103=$(openssl rand -hex 32) kbad=$(openssl rand -hex 32)
k104=$(openssl rand -hex 32)
printf '# collector 102: one key per neighbour\n101 %s\n103 %s\n' "$k101" "$k103" >"$T/ring.col"
printf '102 %s\n' "$k101" >"$T/ring.good"
printf '102 %s\n' "$kbad" >"$T/ring.bad"   # not the key the collector holds for 103
printf '102 %s\n' "$k104" >"$T/ring.stranger"
printf 'correct horse battery staple %s\n' "$$-$RANDOM" >"$T/psk"
chmod 600 "$T"/ring.* "$T/psk"
umask 022

pb_ports 5
TP=${PB_PORTS[0]}
pb_node_conf col 102 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
auth = { keyring = "$T/ring.col"; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf good 101 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/good.pcap"; rate = 20000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; node = 102; } );
auth = { keyring = "$T/ring.good"; };
CONF
pb_node_conf bad 103 "${PB_PORTS[3]}" <<CONF
captures = ( { name = "in"; file = "$T/bad.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
auth = { keyring = "$T/ring.bad"; };
CONF
pb_node_conf stranger 104 "${PB_PORTS[4]}" <<CONF
captures = ( { name = "in"; file = "$T/bad.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
auth = { keyring = "$T/ring.stranger"; };
CONF

# Unsafe key files are refused by the configuration check, naming the mode.
for mode in 644 640 660 620; do
	cp "$T/ring.col" "$T/ring.open"
	chmod "$mode" "$T/ring.open"
	sed "s|$T/ring.col\"|$T/ring.open\"|" "$T/col/node.conf" >"$T/col/open.conf"
	if "$PBD" -t -c "$T/col/open.conf" >"$T/open.log" 2>&1; then
		fail "a keyring with mode $mode was accepted"
	fi
	grep -q "has mode 0$mode" "$T/open.log" || fail "mode $mode: $(cat "$T/open.log")"
done
pb_log "unsafe keyring refused: $(head -1 "$T/open.log")"
# A shared PSK only with the explicit opt-in.
sed "s|keyring = \"$T/ring.col\";|psk_file = \"$T/psk\";|" "$T/col/node.conf" >"$T/col/psk.conf"
if "$PBD" -t -c "$T/col/psk.conf" >"$T/psk.log" 2>&1; then
	fail "psk_file without shared_psk was accepted"
fi
grep -q 'auth.shared_psk = true' "$T/psk.log" || fail "psk without shared_psk: $(cat "$T/psk.log")"
sed -i "s|psk_file = \"$T/psk\";|psk_file = \"$T/psk\"; shared_psk = true;|" "$T/col/psk.conf"
"$PBD" -t -c "$T/col/psk.conf" >"$T/psk.log" 2>&1 || fail "shared_psk refused: $(cat "$T/psk.log")"

pb_node col
pb_node good -x
pb_node bad
pb_node stranger
# Garbage, an HTTP request and a HELLO-sized blob of zeros: each must be
# refused without harm.
printf 'this is not packetbroker\r\n' | socat -t 2 - "TCP:127.0.0.1:$TP" >/dev/null 2>&1 || true
printf 'GET / HTTP/1.0\r\n\r\n' | socat -t 2 - "TCP:127.0.0.1:$TP" >/dev/null 2>&1 || true
head -c 200 /dev/zero | socat -t 2 - "TCP:127.0.0.1:$TP" >/dev/null 2>&1 || true
# "PB", version 1, HELLO, then a truncated body: cut off mid-handshake.
printf 'PB\001\001\000\000\000\060abc' | socat -t 2 - "TCP:127.0.0.1:$TP" >/dev/null 2>&1 || true
pb_alive "${PB_NODE_PID[col]}" || fail "collector died on garbage"

pb_node_wait_exit good 30
pb_node_exit_ok good "good edge (--exit-on-finish)"
pb_wait_until 10 "the collector to write the good edge's $N frames" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets >= $N"
pb_settle col
# The bad edge keeps retrying: give it a few attempts.
pb_wait_until 10 "the bad edge to count an authentication failure" \
    pb_node_true bad /api/v1/peers/col '.auth_failures > 0'
pb_log "bad edge /peers/col: $(pb_node_json bad /api/v1/peers/col -c '{state, auth_failures, protocol_errors, reconnects, records_acked, last_error}')"
bad_acked=$(pb_peer bad col records_acked)
[ "$bad_acked" = 0 ] || fail "bad edge: $bad_acked record(s) acknowledged by the collector"
[ "$(pb_peer bad col state)" != up ] || fail "bad edge: link is up"

pb_node_grep col 'authentication failed' || fail "collector: no 'authentication failed' log line"
pb_wait_until 10 "the collector to refuse the stranger (no key for node 104)" \
    pb_node_true col /api/v1/peers '.tunnel.refused.unknown_node > 0'
pb_node_grep col 'claims node 104, which has no key' || fail "collector: no log line naming the keyless node 104"
[ "$(pb_peer stranger col records_acked)" = 0 ] || fail "stranger: records acknowledged"
pb_log "collector: $(grep -h 'authentication failed' "$(pb_node_log col)" | head -1)"
# The three garbage connections: one protocol error line each, naming the
# peer address (the truncated HELLO is just a connection that ended).
pat='127\.0\.0\.1:[0-9]+\).*(protocol error|bad magic|not a packetbroker|malformed)'
nproto=$(grep -Ec "$pat" "$(pb_node_log col)" || true)
pb_log "collector: $nproto protocol error line(s) about the raw connections:"
grep -Eh "$pat" "$(pb_node_log col)" | head -4 | while read -r l; do pb_log "  $l"; done
[ "$nproto" -ge 3 ] || fail "collector: $nproto protocol error log line(s) for 3 garbage connections"

pb_log "collector /peers: $(pb_node_json col /api/v1/peers -c '{tunnel, peers: [.peers[] | {name, node: .node.id, state, auth_failures, protocol_errors, records_received}]}')"
auth=$(pb_peers_sum col auth_failures)
proto=$(pb_peers_sum col protocol_errors)
# Numbers only: "refused" is an object of per-reason counters.
tauth=$(pb_node_json col /api/v1/peers '[.tunnel // {} | to_entries[] | select(.key | test("auth|protocol|refused|rejected")) | .value | if type == "object" then ([.[] | numbers] | add // 0) else . end | numbers] | add // 0')
pb_log "collector counters: auth_failures $auth, protocol_errors $proto (peers), tunnel-wide auth/protocol $tauth"
[ $((auth + tauth)) -gt 0 ] || fail "collector: the refused bad edge is not counted in /peers (auth_failures)"
[ $((proto + tauth)) -gt 0 ] || fail "collector: the garbage connections are not counted in /peers (protocol_errors)"

# Only the good edge's records, each once, in order.
good_rx=$(pb_node_json col /api/v1/peers '[.peers[] | select(.node.id == 101) | .records_received] | add // 0')
bad_rx=$(pb_node_json col /api/v1/peers '[.peers[] | select(.node.id == 103 or .node.id == 104) | .records_received] | add // 0')
[ "$good_rx" = $N ] || fail "collector received $good_rx records from the good edge, expected $N"
[ "$bad_rx" = 0 ] || fail "collector received $bad_rx records from the bad edge"
for n in bad stranger col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done
mapfile -t outs < <(pb_outputs_ng "$T/col/out")
pb_log "output: $(pb_count "${outs[@]}") frames"
pb_cmp --ts "$T/good.pcap" "${outs[@]}"
[ "$("$PBCMP" --origin 103 --count "${outs[@]}")" = 0 ] || fail "frames of the bad edge in the output"
# No key ever appears in a log.
for n in col good bad stranger; do
	for key in "$k101" "$k103" "$kbad" "$k104"; do
		! pb_node_grep "$n" "${key:0:16}" || fail "$n: a key appears in its log"
	done
done
pb_no_crash col good bad stranger
pass

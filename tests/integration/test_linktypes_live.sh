#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Live captures of link types other than Ethernet, in a namespace: a tun
# device gives LINKTYPE_RAW (101), the "any" device asked for LINUX_SLL2
# (linktype = "LINUX_SLL2"; 276). pblinktypes.py writes IPv4/UDP packets
# into the tun device; an edge captures both and writes pcapng, and sends
# the records through the tunnel to a collector. Both outputs hold every
# packet once per capture, byte for byte, in order, with link type 101 and
# 276 (never libpcap's DLT_RAW 12), as our reader and tshark see them. An
# interface that does not offer the asked link type is refused at start,
# naming what it offers.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools ip python3 tshark curl jq
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
require_built
pb_setup
T=$PB_TMP
N=300
LT="python3 $top_srcdir/tests/tools/pblinktypes.py"

pb_netns lt
NS=$PB_NS
ip -n "$NS" tuntap add dev pbtun0 mode tun || fail "cannot create a tun device"
ip -n "$NS" addr add 10.77.0.1/24 dev pbtun0
ip -n "$NS" link set pbtun0 up
IFINDEX=$(ip -n "$NS" -o link show pbtun0 | cut -d: -f1)

pb_ports 3
pb_node_conf col 82 "${PB_PORTS[1]}" "$NS" <<CONF
listen = { address = "127.0.0.1"; port = ${PB_PORTS[0]}; };
dump = { file = "out/c.pcapng"; };
CONF
pb_node_conf edge 81 "${PB_PORTS[2]}" "$NS" <<CONF
captures = (
  { name = "tun"; interface = "pbtun0"; filter = "udp port 5555"; },
  { name = "any"; interface = "any"; linktype = "LINUX_SLL2"; filter = "udp port 5555"; }
);
dump = { file = "out/e.pcapng"; };
peers = ( { name = "col"; address = "127.0.0.1"; port = ${PB_PORTS[0]}; } );
CONF
pb_node col
pb_node edge
pb_wait_until 10 "both captures running" pb_node_true edge /api/v1/sources \
    '[.sources[] | select(.state == "running")] | length == 2'
pb_node_grep edge "capture 'tun': interface pbtun0, linktype 101 \(RAW\)" ||
    fail "edge: the tun capture does not log link type 101"
pb_node_grep edge "capture 'any': interface any, linktype 276 \(LINUX_SLL2\)" ||
    fail "edge: the any capture does not log link type 276"

out=$(ip netns exec "$NS" $LT tun-send pbtun0 $N "$T/sent.pcap") || fail "tun-send: $out"
pb_log "$out"
for s in tun any; do
	pb_wait_until 20 "$s: $N packets" pb_node_true edge "/api/v1/sources/$s" ".packets == $N"
done
pb_tunnel_drain edge col $((2 * N))
for out in "$T/edge/out/e.pcapng" "$T/col/out/c.pcapng"; do
	r=$($LT check-live "$T/sent.pcap" edge "$IFINDEX" "$out") || fail "$out: $r"
	pb_log "$(basename "$out"): $r"
	# tshark: raw IP (7) and Linux cooked v2 (210), the packets sent.
	want=$(tshark -r "$T/sent.pcap" -T fields -e ip.id -e udp.length 2>/dev/null | md5sum)
	for s in tun:7 any:210; do
		got=$(tshark -r "$out" -Y "frame.interface_name == \"edge/${s%:*}\"" -T fields \
		    -e ip.id -e udp.length 2>/dev/null | md5sum)
		[ "$got" = "$want" ] || fail "tshark: $out: edge/${s%:*} does not hold the packets sent"
		enc=$(tshark -r "$out" -Y "frame.interface_name == \"edge/${s%:*}\"" -T fields \
		    -e frame.encap_type 2>/dev/null | sort -u)
		[ "$enc" = "${s#*:}" ] || fail "tshark: $out: edge/${s%:*} encapsulation $enc, expected ${s#*:}"
	done
done
pb_log "tshark: both outputs hold the $N packets as raw IP and as Linux cooked v2"

# An interface that cannot give the link type: refused, naming what it offers.
pb_node_conf bad 83 "${PB_PORTS[2]}" "$NS" <<CONF
captures = ( { name = "tun"; interface = "pbtun0"; linktype = "EN10MB"; } );
dump = { file = "out/b.pcapng"; };
CONF
if ip netns exec "$NS" "$PBD" -c "$T/bad/node.conf" >"$T/bad.log" 2>&1; then
	fail "a tun capture asking for EN10MB started"
fi
grep -q "capture 'tun': interface pbtun0: link type 1 (EN10MB) not offered; it offers RAW (101)" \
    "$T/bad.log" || fail "no clear refusal: $(tail -3 "$T/bad.log")"
pb_log "linktype = \"EN10MB\" on a tun device refused: $(grep -o 'link type 1.*' "$T/bad.log")"
pb_no_crash edge col
pass

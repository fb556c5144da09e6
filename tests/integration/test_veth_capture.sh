#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Live capture: tcpreplay sends a generated mix (ARP, IPv4, IPv6, 802.1Q,
# QinQ, 9018-byte jumbo frames, each with an FCS and two stacked Metamako
# trailers) into one end of a veth pair inside a private namespace; the
# daemon captures the other end and dumps pcapng. The dump must hold every
# frame, byte for byte and in order, and the API must count them with no
# drop, no oversize frame and every trailer valid.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools ip tcpreplay curl jq
require_built
pb_setup
T=$PB_TMP
N=3000

"$PBGEN" --mix --count $N --seed 11 --trailers metamako,metamako -o "$T/in.pcap"
pb_netns veth
NS=$PB_NS
PB_API_NS=$NS # read by the lib.sh API helpers
# 9050-byte frames (9018 + 2 trailers) need an MTU above 9036.
pb_veth "$NS" veth0 veth1 9600

PORT=$(pb_free_port)
mkdir -p "$T/out"
cat >"$T/veth.conf" <<EOF
node = { id = 9; name = "vethnode"; };
captures = ( { name = "tap"; interface = "veth1"; fcs = true;
               filter = "ether src 02:00:00:00:00:01";
               trailers = ( { type = "metamako"; }, { type = "metamako"; } ); } );
dump = { file = "$T/out/veth-%Y%m%d-%H%M%S.pcapng"; };
api = { listen = "127.0.0.1:$PORT"; };
EOF
pb_daemon veth "$T/veth.conf" "$NS"
D=$PB_PID
pb_wait_until 10 "API" pb_api_up "$PORT"
pb_wait_until 10 "source running" pb_source_is "$PORT" tap state running

# A fixed rate well below what the kernel's backlog (1000 frames) absorbs:
# this tests the daemon, not the veth queue.
ip netns exec "$NS" tcpreplay -q -i veth0 --pps=5000 "$T/in.pcap" >"$T/tcpreplay.log" 2>&1 ||
    fail "tcpreplay: $(cat "$T/tcpreplay.log")"
pb_wait_until 20 "$N packets counted" pb_source_is "$PORT" tap packets $N
pb_wait_until 20 "$N packets in the dump" pb_sink_is "$PORT" dump packets $N
for f in pcap_drops oversize truncated trailer_errors; do
	v=$(pb_source_field "$PORT" tap $f) || fail "no field $f"
	[ "$v" = 0 ] || fail "source counter $f = $v"
done
ok=$(pb_source_field "$PORT" tap trailers_ok)
[ "$ok" = $((2 * N)) ] || fail "trailers_ok = $ok, expected $((2 * N))"
pb_log "source: $(head -c 500 "$T/http.body")"

pb_stop "$D" 20
[ "$PB_RC" = 0 ] || fail "exit status $PB_RC"
OUT=$(pb_outputs "$T/out")
pb_cmp "$T/in.pcap" $OUT
pass

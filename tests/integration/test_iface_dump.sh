#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interface to interface: tcpreplay → a0 ~ a1 (captured by the daemon) →
# injected on b0 ~ b1 (tcpdump, nanosecond, full length). What tcpdump saw
# must be the generated frames, byte for byte and in order, including
# 9018-byte jumbo frames with two Metamako trailers and tagged frames.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools ip tcpreplay tcpdump curl jq
require_built
pb_setup
T=$PB_TMP
N=3000

"$PBGEN" --mix --count $N --seed 13 --trailers metamako,metamako -o "$T/in.pcap"
pb_netns ifd
NS=$PB_NS
PB_API_NS=$NS # read by the lib.sh API helpers
pb_veth "$NS" a0 a1 9600
pb_veth "$NS" b0 b1 9600

PORT=$(pb_free_port)
cat >"$T/ifd.conf" <<EOF
node = { id = 10; name = "ifnode"; };
captures = ( { name = "in"; interface = "a1"; fcs = true;
               filter = "ether src 02:00:00:00:00:01";
               trailers = ( { type = "metamako"; }, { type = "metamako"; } ); } );
dump = { name = "out"; interface = "b0"; };
api = { listen = "127.0.0.1:$PORT"; };
EOF
pb_tcpdump tcpdump "$NS" b1 "$T/seen.pcap" ether src 02:00:00:00:00:01
TD=$PB_TCPDUMP
pb_daemon ifd "$T/ifd.conf" "$NS"
D=$PB_PID
pb_wait_until 10 "API" pb_api_up "$PORT"
pb_wait_until 10 "source running" pb_source_is "$PORT" in state running

ip netns exec "$NS" tcpreplay -q -i a0 --pps=5000 "$T/in.pcap" >"$T/tcpreplay.log" 2>&1 ||
    fail "tcpreplay: $(cat "$T/tcpreplay.log")"
pb_wait_until 20 "$N packets captured" pb_source_is "$PORT" in packets $N
pb_wait_until 20 "$N packets injected" pb_sink_is "$PORT" out packets $N
for f in pcap_drops oversize trailer_errors; do
	v=$(pb_source_field "$PORT" in $f) || fail "no field $f"
	[ "$v" = 0 ] || fail "source counter $f = $v"
done
v=$(pb_sink_field "$PORT" out inject_errors) || fail "no inject_errors"
[ "$v" = 0 ] || fail "inject_errors = $v"

pb_stop "$D" 20
[ "$PB_RC" = 0 ] || fail "exit status $PB_RC"
# tcpdump writes each packet (-U); give the last ones a moment to arrive.
pb_wait_until 10 "tcpdump to see $N frames" sh -c "[ \"\$('$PBCMP' --count '$T/seen.pcap' 2>/dev/null)\" -ge $N ]"
pb_tcpdump_stop "$TD"
pb_cmp "$T/in.pcap" "$T/seen.pcap"
pass

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every link type, byte for byte, with its LINKTYPE number. pblinktypes.py
# writes captures of 34 link types (classic pcap in both byte orders and
# both time resolutions, some pcapng; each with a frame cut short) and a
# pcapng file with two sections and five interfaces of different link
# types (EPB, SPB, obsolete packet block). Each file is replayed through a
# file source into a pcap and a pcapng dump (--exit-on-finish), all of
# them together into a pcapng dump and through the tunnel to a collector:
# the outputs hold every frame with its bytes, original length, order per
# source and LINKTYPE (RAW stays 101, never libpcap's DLT 12), as our own
# reader, tshark and capinfos see them. A capture that fails makes -x exit
# with status 1, naming it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools tshark capinfos mergecap python3 curl jq
require_built
pb_setup
T=$PB_TMP
LT="python3 $top_srcdir/tests/tools/pblinktypes.py"
M=$T/corpus/manifest.json

$LT gen "$T/corpus" >"$T/gen.log" || fail "pblinktypes gen: $(cat "$T/gen.log")"
pb_log "corpus: $(cat "$T/gen.log")"
mapfile -t inputs < <(ls "$T"/corpus/*.pcap "$T"/corpus/*.pcapng)

# capinfos: encapsulation and packet count, one line per file.
capinfo() {
	capinfos -T -r -E -c "$@" 2>/dev/null | cut -f2-
}

# One node per file: a pcap and a pcapng dump of that file alone (a pcap
# file has one link type: multi.pcapng only into pcapng).
pairs=() ngs=() want_ci=() got_ci=()
for f in "${inputs[@]}"; do
	name=$(basename "${f%.*}")
	mkdir -p "$T/$name"
	pcap_dump=
	[ "$name" = multi ] ||
	    pcap_dump=", { name = \"classic\"; file = \"$T/$name/o.pcap\"; format = \"pcap\"; }"
	cat >"$T/$name.conf" <<EOF
node = { id = 3; name = "one"; };
captures = ( { name = "$name"; file = "$f"; } );
dump = ( { name = "ng"; file = "$T/$name/o.pcapng"; }$pcap_dump );
api = { enabled = false; };
EOF
	pb_daemon "$name" "$T/$name.conf" --exit-on-finish
	pb_wait_exit "$PB_PID" 30
	[ "$PB_RC" = 0 ] || fail "$name: daemon exit status $PB_RC"
	ngs+=("$T/$name/o.pcapng")
	if [ "$name" != multi ]; then
		pairs+=("$name=$T/$name/o.pcap")
		want_ci+=("$f")
		got_ci+=("$T/$name/o.pcap")
	fi
done
out=$($LT check-pcap "$M" "${pairs[@]}") || fail "pcap dumps: $out"
pb_log "pcap dumps: $out"
out=$($LT check "$M" one "${ngs[@]}") || fail "pcapng dumps: $out"
pb_log "pcapng dumps: $out"
[ "$(capinfo "${want_ci[@]}")" = "$(capinfo "${got_ci[@]}")" ] ||
    fail "capinfos: the pcap dumps differ from the inputs:
$(diff <(capinfo "${want_ci[@]}") <(capinfo "${got_ci[@]}"))"
pb_log "capinfos: ${#got_ci[@]} pcap dumps with the encapsulation and packet count of their input"
grep -q "multi': interface 1 (raw), linktype 101 (RAW), source 1" "$PB_TMP/multi.log" ||
    fail "multi: no log line naming its second interface"

# Everything on one edge, into its own pcapng and through the tunnel.
caps=
for f in "${inputs[@]}"; do
	caps="$caps${caps:+,}
  { name = \"$(basename "${f%.*}")\"; file = \"$f\"; }"
done
pb_ports 3
pb_node_conf col 72 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = ${PB_PORTS[0]}; };
dump = { file = "out/c.pcapng"; };
CONF
pb_node_conf edge 71 "${PB_PORTS[2]}" <<CONF
captures = ($caps
);
dump = { file = "out/e.pcapng"; };
peers = ( { name = "col"; address = "127.0.0.1"; port = ${PB_PORTS[0]}; } );
CONF
pb_node col
pb_node edge -x
pb_node_wait_exit edge 30
pb_node_exit_ok edge "-x after every record was acknowledged"
pb_node_stop col
pb_node_exit_ok col SIGTERM
out=$($LT check "$M" edge "$T/edge/out/e.pcapng") || fail "edge pcapng: $out"
pb_log "edge: $out"
out=$($LT check "$M" edge "$T/col/out/c.pcapng") || fail "collector pcapng: $out"
pb_log "collector: $out"
out=$($LT tshark "$M" edge "$T/edge/out/e.pcapng,$T/col/out/c.pcapng" "${inputs[@]}") ||
    fail "$out"
pb_log "$out"

# -x and a capture that fails: a classic pcap whose first record is cut.
head -c 30 "$T/corpus/lt1.pcap" >"$T/broken.pcap"
cat >"$T/fail.conf" <<EOF
node = { id = 3; name = "one"; };
captures = ( { name = "good"; file = "$T/corpus/lt101.pcap"; },
             { name = "broken"; file = "$T/broken.pcap"; } );
dump = { file = "$T/fail.pcapng"; };
api = { enabled = false; };
EOF
pb_daemon fail "$T/fail.conf" --exit-on-finish
pb_wait_exit "$PB_PID" 30
[ "$PB_RC" = 1 ] || fail "-x with a failed capture: exit status $PB_RC, expected 1"
grep -q "capture 'broken' failed: shutting down with an error" "$T/fail.log" ||
    fail "-x: the log does not name the failed capture: $(tail -3 "$T/fail.log")"
pb_log "-x: exit status 1, the log names capture 'broken'"
pb_no_crash col edge
grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$T"/*.log && fail "sanitizer report in $(grep -El 'Sanitizer|runtime error' "$T"/*.log)"
pass

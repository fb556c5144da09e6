#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Command line and process behaviour: -V, -t on good and bad configurations,
# start-up failures that name the capture, threads named by role, graceful
# SIGTERM (everything accepted is in a valid file) and SIGHUP (a new output
# file).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools curl jq
require_built
pb_setup
T=$PB_TMP

# -V
out=$("$PBD" -V) || fail "-V exited $?"
echo "$out" | grep -Eq '^packetbrokerd [0-9]+\.[0-9]+' || fail "-V printed '$out'"
pb_log "-V: $out"

mkdir -p "$T/out"
"$PBGEN" --count 1000 --sizes 64,1500,9018 --trailers metamako --gap-ns 1000000 -o "$T/in.pcap"

# -t on a good configuration
cat >"$T/good.conf" <<EOF
node = { id = 1; name = "cli"; };
captures = ( { name = "replay"; file = "$T/in.pcap"; fcs = true;
               trailers = ( { type = "metamako"; } ); } );
dump = { file = "$T/out/x-%Y%m%d-%H%M%S.pcapng"; };
api = { enabled = false; };
EOF
out=$("$PBD" -t -c "$T/good.conf" 2>&1) || fail "-t on a good config exited non-zero: $out"
pb_log "-t good: $out"

# -t on a configuration with three errors on known lines: all reported.
cat >"$T/bad.conf" <<EOF
node = { id = 1; name = "cli"; };
captures = (
  { name = "a"; file = "$T/in.pcap"; rate = "fast"; },
  { name = "b"; file = "$T/in.pcap"; trailers = ( { type = "nosuchvendor"; } ); }
);
dump = {
  file = "$T/out/x.pcapng";
  format = "pcapx";
};
api = { enabled = false; };
EOF
rc=0
out=$("$PBD" -t -c "$T/bad.conf" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "-t on a bad config exited 0: $out"
for line in 3 4 8; do
	echo "$out" | grep -Eq "bad\.conf:$line: error: " ||
	    fail "-t did not report the error on line $line; got: $out"
done
pb_log "-t bad (exit $rc):"
echo "$out" | sed 's/^/    /'

# A syntax error is reported with its line too.
printf 'node = { id = 1; name = "cli"; };\ncaptures = ( { name = "a"; file = ; } );\n' >"$T/syntax.conf"
rc=0
out=$("$PBD" -t -c "$T/syntax.conf" 2>&1) || rc=$?
if [ "$rc" = 0 ] || ! echo "$out" | grep -q "syntax.conf:2"; then
	fail "syntax error not reported with its line: $out"
fi

# Start-up failures name the capture and exit non-zero.
start_fails() {
	local what=$1 capture=$2
	pb_daemon "$what" "$T/$what.conf"
	pb_wait_exit "$PB_PID" 20
	[ "$PB_RC" -ne 0 ] || fail "$what: daemon exited 0"
	grep -q "$capture" "$T/$what.log" || fail "$what: message does not name capture '$capture'"
	pb_log "$what: exit $PB_RC: $(grep -m1 "$capture" "$T/$what.log")"
}
cat >"$T/noif.conf" <<EOF
node = { id = 1; name = "cli"; };
captures = ( { name = "tapx"; interface = "pbnosuch0"; } );
dump = { file = "$T/out/x.pcapng"; };
api = { enabled = false; };
EOF
start_fails noif tapx
cat >"$T/nofile.conf" <<EOF
node = { id = 1; name = "cli"; };
captures = ( { name = "replayx"; file = "$T/does-not-exist.pcap"; } );
dump = { file = "$T/out/x.pcapng"; };
api = { enabled = false; };
EOF
start_fails nofile replayx
head -c 4096 /dev/urandom >"$T/garbage.pcap"
sed "s|does-not-exist.pcap|garbage.pcap|; s|replayx|garbagex|" "$T/nofile.conf" >"$T/garbage.conf"
start_fails garbage garbagex

# SIGTERM: a paced source is interrupted; the output must be a valid file
# holding at least every frame the API had counted before the signal, and
# exactly the start of the input.
PORT=$(pb_free_port)
cat >"$T/term.conf" <<EOF
node = { id = 1; name = "cli"; };
captures = ( { name = "replay"; file = "$T/in.pcap"; rate = 400; fcs = true;
               trailers = ( { type = "metamako"; } ); } );
dump = { file = "$T/term/x-%Y%m%d-%H%M%S.pcapng"; };
api = { listen = "127.0.0.1:$PORT"; };
EOF
mkdir -p "$T/term"
pb_daemon term "$T/term.conf"
D=$PB_PID
pb_wait_until 10 "API on port $PORT" pb_api_up "$PORT"
sleep 1
seen=$(pb_source_field "$PORT" replay packets) || fail "no packet count from the API"
[ "$seen" -gt 0 ] || fail "no packets after 1 s"
# Threads carry their role (top -H, ps -L, perf; the tunnel bench reads
# the dump writer's CPU time by name).
names=$(cat /proc/"$D"/task/*/comm | sort | tr '\n' ' ')
for t in pb-file-read pb-dump pb-state; do
	case " $names" in *" $t "*) ;; *) fail "no thread named $t; threads: $names" ;; esac
done
pb_log "threads: $names"
pb_stop "$D" 20
[ "$PB_RC" = 0 ] || fail "SIGTERM: exit status $PB_RC"
files=$(pb_outputs "$T/term")
[ "$(pb_nlines "$files")" = 1 ] || fail "SIGTERM: expected 1 output file, got: $files"
n=$(pb_count $files) || fail "SIGTERM: output not readable"
[ "$n" -ge "$seen" ] || fail "SIGTERM: output has $n frames, API had counted $seen before the signal"
[ "$n" -lt 1000 ] || fail "SIGTERM: all 1000 frames written: pacing did not happen?"
pb_cmp --ts --prefix "$T/in.pcap" $files
pb_log "SIGTERM: $n frames written (API had $seen)"

# SIGHUP: a new output file; together the files are the start of the input.
# A port of its own: term's, free again, may meanwhile be another
# (parallel) test's.
PORT=$(pb_free_port)
sed "s|/term/|/hup/|; s|127.0.0.1:[0-9]*\"|127.0.0.1:$PORT\"|" "$T/term.conf" >"$T/hup.conf"
mkdir -p "$T/hup"
pb_daemon hup "$T/hup.conf"
D=$PB_PID
pb_wait_until 10 "API on port $PORT" pb_api_up "$PORT"
pb_wait_until 10 "first output file" pb_has_files "$T/hup" 1
sleep 0.7
kill -HUP "$D"
pb_wait_until 10 "second output file after SIGHUP" pb_has_files "$T/hup" 2
sleep 0.5
pb_alive "$D" || fail "daemon died after SIGHUP"
pb_stop "$D" 20
[ "$PB_RC" = 0 ] || fail "SIGHUP run: exit status $PB_RC"
files=$(pb_outputs "$T/hup")
nf=$(pb_nlines "$files")
[ "$nf" = 2 ] || fail "SIGHUP: expected 2 files, got $nf: $files"
for f in $files; do
	c=$(pb_count "$f") || fail "SIGHUP: $f not readable"
	[ "$c" -gt 0 ] || fail "SIGHUP: $f is empty"
done
pb_cmp --ts --prefix "$T/in.pcap" $files
pass

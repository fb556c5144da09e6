#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Output rotation and retention: rotate_mb (pcap and pcapng), rotate_seconds,
# max_files and max_total_mb. Every file must be readable on its own (no
# record split across files) and the files, oldest first, must hold the
# input in order (or its newest part when retention removed files).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_built
pb_setup
T=$PB_TMP
MB=1048576

# ~10.8 MB of mixed sizes (the odd jumbo frame makes records uneven).
"$PBGEN" --count 7000 --sizes 1500,1500,1500,64,9018 --fcs -o "$T/in.pcap"

# run NAME DUMP_SETTINGS [CAPTURE_SETTINGS]: one daemon run, output in $T/NAME.
run() {
	local name=$1 dump=$2 cap=${3:-} ext=pcapng
	[ "$name" != pcap ] || ext=pcap
	mkdir -p "$T/$name"
	cat >"$T/$name.conf" <<EOF
node = { id = 5; name = "rot"; };
captures = ( { name = "in"; file = "$T/in.pcap"; fcs = true; $cap } );
dump = { file = "$T/$name/r-%Y%m%d-%H%M%S.$ext"; $dump };
api = { enabled = false; };
EOF
	pb_daemon "$name" "$T/$name.conf" --exit-on-finish
	pb_wait_exit "$PB_PID" 60
	[ "$PB_RC" = 0 ] || fail "$name: daemon exit status $PB_RC"
	FILES=$(pb_outputs "$T/$name")
	NFILES=$(pb_nlines "$FILES")
	local f total=0
	for f in $FILES; do
		pb_count "$f" >/dev/null 2>"$T/count.err" || fail "$name: $f is not readable: $(cat "$T/count.err")"
		total=$((total + $(stat -c %s "$f")))
	done
	TOTAL=$total
	pb_log "$name: $NFILES files, $TOTAL bytes"
}

# Each file at most the limit, plus one record (when a sink rotates only
# once the limit is passed) plus the file headers.
check_sizes() {
	local name=$1 limit=$2 f s
	for f in $FILES; do
		s=$(stat -c %s "$f")
		[ "$s" -le $((limit + 9100 + 4096)) ] || fail "$name: $f is $s bytes, limit $limit"
	done
}

# rotate_mb, pcapng and pcap
for fmt in pcapng pcap; do
	run "$fmt" "format = \"$fmt\"; rotate_mb = 1;"
	[ "$NFILES" -ge 10 ] || fail "$fmt rotate_mb=1: only $NFILES files for 10.8 MB"
	check_sizes "$fmt" $MB
	# shellcheck disable=SC2086
	pb_cmp --ts "$T/in.pcap" $FILES
done

# rotate_seconds: a 4.2 s paced replay → 4 or more files.
"$PBGEN" --count 420 --size 256 --gap-ns 10000000 -o "$T/slow.pcap"
mkdir -p "$T/secs"
cat >"$T/secs.conf" <<EOF
node = { id = 5; name = "rot"; };
captures = ( { name = "in"; file = "$T/slow.pcap"; rate = "original"; } );
dump = { file = "$T/secs/s-%Y%m%d-%H%M%S.pcapng"; rotate_seconds = 1; };
api = { enabled = false; };
EOF
pb_daemon secs "$T/secs.conf" --exit-on-finish
pb_wait_exit "$PB_PID" 60
[ "$PB_RC" = 0 ] || fail "secs: daemon exit status $PB_RC"
FILES=$(pb_outputs "$T/secs")
NFILES=$(pb_nlines "$FILES")
[ "$NFILES" -ge 4 ] && [ "$NFILES" -le 7 ] || fail "rotate_seconds=1 over 4.2 s: $NFILES files"
# shellcheck disable=SC2086
pb_cmp --ts "$T/slow.pcap" $FILES
pb_log "secs: $NFILES files"

# max_files: only the 3 newest files stay, and they are the input's end.
run maxfiles "rotate_mb = 1; max_files = 3;"
[ "$NFILES" = 3 ] || fail "max_files=3: $NFILES files left"
# shellcheck disable=SC2086
pb_cmp --ts --suffix "$T/in.pcap" $FILES

# max_total_mb: the oldest files go once the total passes 3 MB.
run maxtotal "rotate_mb = 1; max_total_mb = 3;"
[ "$NFILES" -ge 2 ] || fail "max_total_mb=3: $NFILES files left"
# At most the limit on disk at any time, the file being written included
# (docs/configuration.md: "Keep at most this many MiB in total").
[ "$TOTAL" -le $((3 * MB + 4096)) ] ||
    fail "max_total_mb=3: $TOTAL bytes left in $NFILES files, more than $((3 * MB)) (+4096 for headers)"
# shellcheck disable=SC2086
pb_cmp --ts --suffix "$T/in.pcap" $FILES
pass

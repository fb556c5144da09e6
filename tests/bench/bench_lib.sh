# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Helpers shared by the tunnel benchmark's scripts (sourced, not run).
# The sourcing script sets BENCH (its name for messages), W (its scratch
# directory) and PBCMP, and appends the pids it starts in the background to
# PIDS so that bench_cleanup can stop them.

PIDS=()

die() {
	echo "$BENCH: $*" >&2
	exit 1
}

now_ns() { date +%s%N; }

# tree PID: PID's descendants, deepest first (time -> timeout -> daemon).
tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		tree "$c"
		echo "$c"
	done
}

# bench_cleanup: stops what is left in PIDS, removes W (the EXIT trap).
bench_cleanup() {
	local pid i
	set +e
	for pid in "${PIDS[@]}"; do
		# Leaves first: killing /usr/bin/time would orphan the daemon.
		for i in $(tree "$pid"); do
			kill -TERM "$i" 2>/dev/null
		done
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -z "${W:-}" ] || rm -rf "$W"
}

# free_port VAR: a TCP port nobody listens on and not handed out before.
USED_PORTS=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		case $USED_PORTS in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htan "sport = :$p")" ]; then
			USED_PORTS="$USED_PORTS$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free TCP port found"
}

# wait_listen PORT PID: until PORT listens; fails if PID died or 10 s passed.
wait_listen() {
	for _ in $(seq 200); do
		[ -z "$(ss -Htln "sport = :$1")" ] || return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# rss FILE: peak RSS in KB as written by time -f %M (first on its line),
# which is the process's VmHWM at exit (last line: time may also write
# "Command exited with non-zero status").
rss() { tail -n 1 "$1" 2>/dev/null | awk '{ print $1 }' | tr -cd '0-9'; }

# cpu_ms FILE: user + system CPU in ms as written by time -f "%M %U %S".
cpu_ms() { tail -n 1 "$1" 2>/dev/null | awk '{ printf "%.0f\n", ($2 + $3) * 1000 }'; }

# thread_ms PID NAME: CPU time in ms of PID's threads named NAME (its main
# thread: NAME = main), from schedstat (ns on a CPU, not 10 ms ticks).
thread_ms() {
	local t ns=0 name
	for t in /proc/"$1"/task/*; do
		name=$(cat "$t/comm" 2>/dev/null) || continue
		if [ "$2" = main ]; then [ "${t##*/}" = "$1" ] || continue
		else [ "$name" = "$2" ] || continue; fi
		ns=$((ns + $(awk '{ print $1 }' "$t/schedstat" 2>/dev/null || echo 0)))
	done
	echo $((ns / 1000000))
}

maxv() { [ "${1:-0}" -ge "${2:-0}" ] && echo "${1:-0}" || echo "${2:-0}"; }

mb() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

# stats N...: "median min max" of the numbers (the mean of the middle two
# when there is an even count).
stats() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.0f %.0f %.0f\n", m, v[1], v[NR]
	}'
}

# verify IN OUT WHAT [full]: OUT must hold as many frames as IN, else the
# benchmark fails; with full, also the same frames (in any order).
verify() {
	local r
	r=$("$PBCMP" --count-only "$1" "$2" 2>&1) ||
		die "INCOMPLETE output of $3 ($2): $r"
	[ "${4:-}" = full ] || return 0
	r=$("$PBCMP" --multiset "$1" "$2" 2>&1) ||
		die "output of $3 ($2) differs from the input: $r"
}

# check_space DIR EXTRA: dies unless DIR has room for the largest of CASES
# ("name|frames|...|file bytes per frame[|frames in the file]", frames
# scaled by SCALE percent): its input and one output of the file's frames,
# plus EXTRA bytes per frame, plus 200 MB. A
# tmpfs is RAM: there the room is also bounded by MemAvailable, since
# filling it on a shared machine would wake the OOM killer.
check_space() {
	local c n per f m need=0 avail mem
	for c in "${CASES[@]}"; do
		IFS='|' read -r _ n _ _ per f <<<"$c"
		m=$((${f:-$n} * SCALE * (per * 2 + $2) / 100000000))
		[ "$m" -le "$need" ] || need=$m
	done
	avail=$(df -Pm "$1" | awk 'NR == 2 { print $4 }')
	if [ "$(stat -f -c %T "$1")" = tmpfs ]; then
		mem=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
		[ "$mem" -ge "$avail" ] || avail=$mem
	fi
	[ "$avail" -ge $((need + 200)) ] ||
		die "$1 has $avail MB free, needs about $((need + 200)) MB (PB_BENCH_SCALE, PB_BENCH_DIR)"
}

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, as CI runs it (README Quick start, line 2):
#   1. warnings-as-errors build, `make check` (unit + integration)
#   2. unit tests under valgrind
#   3. ASan/UBSan build, `make check` again
#   4. libFuzzer campaigns: the wire decoder and the link state machine
#   5. `make distcheck`
# Ends with "N passed, N failed[, N skipped]".
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
out=${PB_BUILD_ROOT:-$src/build}
fuzz_seconds=${PB_FUZZ_SECONDS:-300}
jobs=${PB_JOBS:-2}
# make check runs one test more than CPUs: tests spend much of their time
# waiting on the daemons they drive (1.4 of 2 CPUs busy at -j2; at -j3 the
# werror pass took 272 s instead of 337 s, the ASan pass 374 s instead of
# ~426 s). CPU-bound steps (builds, valgrind, fuzzers) use $jobs.
test_jobs=${PB_TEST_JOBS:-$((jobs + 1))}
passed=0 failed=0 skipped=0
failures=()

note() { printf '\n=== %s (at %ss)\n' "$*" "$SECONDS"; }
record() { # name status(0 pass, 77 skip, else fail)
	case "$2" in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$1") ;;
	esac
}
# Adds automake's per-test results from a build dir to the totals.
count_automake() { # builddir label
	local n
	for trs in $(find "$1/tests" -name '*.trs' 2>/dev/null | sort); do
		n=$(sed -n 's/^:test-result: //p' "$trs" | head -n1)
		case "$n" in
		PASS|XFAIL) passed=$((passed + 1)) ;;
		SKIP) skipped=$((skipped + 1)); echo "$2: skipped ${trs#$1/}" ;;
		*) failed=$((failed + 1)); failures+=("$2:${trs#$1/}") ;;
		esac
	done
}
# `make check` failed: the per-test results count the tests that ran; a
# harness failure (a test that could not even start) counts once more.
check_failed() { # builddir label
	if ! grep -qE '^(FAIL|ERROR):' "$1/check.out"; then
		echo "FAIL: $2 make check (harness)"; grep -E '\*\*\*|rror' "$1/check.out" | tail -n 5
		failed=$((failed + 1)); failures+=("$2:make check")
	fi
}
# show_failed builddir: for each failed automake test, its own lines (the
# check that failed, its [name] notes, sanitizer reports), then the tail
# of its log, which lib.sh fills with the nodes' last log lines.
show_failed() {
	local t l
	for t in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find "$1/tests" -name '*.trs')); do
		l=${t%.trs}.log
		echo "--- $l"
		grep -E '^(\[test_[a-z0-9_]*\]|FAIL|ERROR|SUMMARY|==[0-9]+==ERROR)|runtime error|\[  (FAILED|ERROR)  \]|error: ' \
			"$l" | grep -v '^\[[0-9]*\] 20' | tail -n 30
		echo "--- (last lines)"
		tail -n 60 "$l"
	done
}
configure_build() { # dir args...
	local dir=$1; shift
	rm -rf "$dir" && mkdir -p "$dir" &&
		(cd "$dir" && "$src/configure" -q "$@" && make -j"$jobs" >make.out 2>&1 ||
			{ tail -n 60 "$dir/make.out" 2>/dev/null; false; })
}

cd "$src" || exit 1
[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed"; echo "0 passed, 1 failed"; exit 1; }
# After an in-tree build (README line 1) the tree cannot host VPATH builds:
# test a clean copy of the sources instead of touching the user's build.
if [ -f "$src/config.status" ]; then
	copy=$out/src
	rm -rf "$copy" && mkdir -p "$copy"
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$src" && git ls-files -z --cached --others --exclude-standard |
			tar --null -T - -cf -) | tar -xf - -C "$copy"
	else
		(cd "$src" && make -s distdir distdir="$copy.tmp" >/dev/null) &&
			rm -rf "$copy" && mv "$copy.tmp" "$copy"
	fi
	echo "in-tree build found: testing a clean copy in $copy"
	src=$copy
	cd "$src" && ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed"; echo "0 passed, 1 failed"; exit 1; }
fi

note "1/5 build with --enable-werror, make check"
if configure_build "$out/werror" --enable-werror; then
	(cd "$out/werror" && make -j"$test_jobs" check >check.out 2>&1) || check_failed "$out/werror" werror
	grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS):' "$out/werror/check.out"
	count_automake "$out/werror" werror
	grep -q '^# ERROR: *[1-9]' "$out/werror/check.out" && for l in $(find "$out/werror/tests" -name '*.log'); do grep -q 'ERROR' "${l%.log}.trs" 2>/dev/null && tail -n 40 "$l"; done
	show_failed "$out/werror"
else
	record "werror build" 1
fi

note "2/5 unit tests under valgrind"
# Each test is one process on one CPU: run $jobs of them at a time.
valgrind_one() { # test
	local name rc=0
	name=$(basename "$1")
	top_srcdir=$src top_builddir=$out/werror valgrind -q --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite,indirect \
		--suppressions="$src/tests/unit/valgrind.supp" "$1" >"$out/werror/valgrind-$name.out" 2>&1 || rc=$?
	echo "$rc" >"$out/werror/valgrind-$name.rc"
}
if [ -d "$out/werror/tests/unit" ] && command -v valgrind >/dev/null; then
	for t in "$out"/werror/tests/unit/test_*; do
		[ -x "$t" ] || continue
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
		valgrind_one "$t" &
	done
	wait
	for t in "$out"/werror/tests/unit/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		if [ "$(cat "$out/werror/valgrind-$name.rc" 2>/dev/null)" = 0 ]; then
			echo "PASS: valgrind $name"; record "valgrind $name" 0
		else
			echo "FAIL: valgrind $name"; tail -n 40 "$out/werror/valgrind-$name.out"
			record "valgrind $name" 1
		fi
	done
fi

note "3/5 build with --enable-sanitizers, make check"
if configure_build "$out/asan" --enable-sanitizers --enable-werror; then
	(cd "$out/asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 make -j"$test_jobs" check >check.out 2>&1) ||
		check_failed "$out/asan" asan
	grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS):' "$out/asan/check.out"
	count_automake "$out/asan" asan
	show_failed "$out/asan"
else
	record "sanitizer build" 1
fi

# PB_FUZZ_SECONDS is the wall-clock budget of step 4 (issue 6: 10 M
# executions in total, or as many as fit in 5 minutes; the wire fuzzer stops
# at 10 M, which is most of the total). With two CPUs or
# more the two fuzzers run side by side for all of it, one CPU each;
# otherwise they run one after the other, half of it each. (libFuzzer takes
# -max_total_time=0 as no limit: at least 1 s each.)
[ "$fuzz_seconds" -ge 2 ] 2>/dev/null || fuzz_seconds=2
note "4/5 fuzz the wire decoder and the link state machine (${fuzz_seconds}s)"
run_fuzzer() { # name seconds libFuzzer-args...
	local name=$1 secs=$2 corpus rc
	shift 2
	corpus=$(mktemp -d)
	cp "$src/tests/fuzz/corpus_${name#fuzz_}"/* "$corpus"/ 2>/dev/null || true
	(cd "$out/fuzz" && ./tests/fuzz/"$name" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$out/fuzz/$name-" "$@" "$corpus" >"$name.out" 2>&1)
	rc=$?
	rm -rf "$corpus"
	return $rc
}
fuzz_args_wire="-max_len=70000 -runs=10000000"
fuzz_args_link="-max_len=1024 -timeout=60"
# fuzz_failed NAME: what the target said first (the violated invariant,
# the stack), the input that failed in base64 (a CI log is all a later
# session may have), and whether it fails again alone from a fresh start.
fuzz_failed() {
	local f
	tail -n 25 "$out/fuzz/$1.out"
	echo "--- $1: the report"
	grep -aE 'INVARIANT|FATAL|ERROR: libFuzzer|runtime error|^ *#[0-9]+ 0x' "$out/fuzz/$1.out" | head -n 30
	for f in "$out/fuzz/$1"-crash-* "$out/fuzz/$1"-timeout-* "$out/fuzz/$1"-oom-*; do
		[ -f "$f" ] || continue
		echo "--- ${f##*/} ($(stat -c %s "$f") bytes, base64, the first 4 KiB):"
		head -c 4096 "$f" | base64 -w 0; echo
		echo "--- ${f##*/} alone, fresh engines (PB_FUZZ_FRESH=1):"
		(cd "$out/fuzz" && PB_FUZZ_FRESH=1 timeout 120 ./tests/fuzz/"$1" "$f" 2>&1 |
			grep -aE 'INVARIANT|FATAL|ERROR|Executed|#[0-9]+ 0x' | head -n 12)
	done
	echo "FAIL: $1 (inputs kept as $out/fuzz/$1-*)"
}
if command -v clang >/dev/null; then
	if CC=clang configure_build "$out/fuzz" --enable-fuzzer &&
		(cd "$out/fuzz" && make tests/fuzz/fuzz_wire tests/fuzz/fuzz_link >>make.out 2>&1); then
		if [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
			run_fuzzer fuzz_wire "$fuzz_seconds" $fuzz_args_wire & wire_pid=$!
			run_fuzzer fuzz_link "$fuzz_seconds" $fuzz_args_link & link_pid=$!
			wait $wire_pid; wire_rc=$?
			wait $link_pid; link_rc=$?
		else
			run_fuzzer fuzz_wire $((fuzz_seconds / 2)) $fuzz_args_wire; wire_rc=$?
			run_fuzzer fuzz_link $((fuzz_seconds - fuzz_seconds / 2)) $fuzz_args_link; link_rc=$?
		fi
		fuzz_total=0
		for name in fuzz_wire fuzz_link; do
			[ "$name" = fuzz_wire ] && rc=$wire_rc || rc=$link_rc
			units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz/$name.out" | tail -n1)
			echo "$name: stat::number_of_executed_units: ${units:-0}"
			fuzz_total=$((fuzz_total + ${units:-0}))
			if [ "$rc" -eq 0 ]; then
				echo "PASS: $name"; record "$name" 0
			else
				fuzz_failed "$name"
				record "$name" 1
			fi
		done
		echo "fuzz: $fuzz_total executions in total"
	else
		echo "FAIL: fuzzer build"; record "fuzzer build" 1
	fi
else
	echo "SKIP: fuzz_wire, fuzz_link (no clang)"; record fuzz_wire 77; record fuzz_link 77
fi

note "5/5 make distcheck"
if [ -d "$out/werror" ] && (cd "$out/werror" && PB_SKIP_INTEGRATION=1 make -j"$jobs" distcheck >distcheck.out 2>&1); then
	echo "PASS: distcheck"; record distcheck 0
else
	tail -n 40 "$out/werror/distcheck.out" 2>/dev/null; echo "FAIL: distcheck"; record distcheck 1
fi

echo
echo "took ${SECONDS}s"
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]

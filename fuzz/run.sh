#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses in their own build directory (clang, ASan +
# UBSan, coverage on everything) and runs each for a while.
#
#   fuzz/run.sh [--time SECONDS] [--build-dir DIR] [--fresh] [--replay] [HARNESS...]
#
#   --time S       seconds per harness (default 30)
#   --build-dir D  build directory (default build-fuzz; configured if absent)
#   --fresh        start from the seed corpora in a scratch directory
#                  (D/fuzz/ci) instead of the corpora grown by earlier runs
#                  (D/fuzz/work/HARNESS/corpus)
#   --replay       first run every saved input of fuzz/crashes/HARNESS/ once
#   HARNESS        fuzz_wq, fuzz_ctl, fuzz_config (default: all three)
#
# Extra libFuzzer flags go in FUZZ_ARGS.  Each harness runs as one process on
# one CPU (-jobs=1 -workers=1); its log is WORK/fuzz-0.log, what it finds is
# in WORK/artifacts/.  Prints executions, coverage and findings per harness;
# exits non-zero when any harness found something (crash, leak, timeout,
# sanitizer report, failed check) or a saved input still fails.
set -uo pipefail

cd "$(dirname "$0")/.."
src=$PWD
time=30
bdir=build-fuzz
fresh=0
replay=0
harnesses=()
while [ $# -gt 0 ]; do
	case "$1" in
	--time) time=$2; shift 2 ;;
	--time=*) time=${1#*=}; shift ;;
	--build-dir) bdir=$2; shift 2 ;;
	--build-dir=*) bdir=${1#*=}; shift ;;
	--fresh) fresh=1; shift ;;
	--replay) replay=1; shift ;;
	-h|--help) sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	fuzz_wq|fuzz_ctl|fuzz_config) harnesses+=("$1"); shift ;;
	*) echo "run.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_wq fuzz_ctl fuzz_config)
case "$time" in ''|*[!0-9]*) echo "run.sh: --time wants whole seconds" >&2; exit 2 ;; esac
case "$bdir" in /*) ;; *) bdir=$src/$bdir ;; esac
t_start=$(date +%s)

if [ ! -f "$bdir/build.ninja" ]; then
	echo "== configuring $bdir (clang, ASan + UBSan, libFuzzer)"
	CC=clang CXX=clang++ meson setup "$bdir" -Dfuzz=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link -Dcpp_args=-fsanitize=fuzzer-no-link \
		>"$bdir.setup.log" 2>&1 || { cat "$bdir.setup.log"; exit 1; }
	rm -f "$bdir.setup.log"
fi
echo "== building the harnesses in $bdir"
if ! ninja -C "$bdir" fuzz/fuzz_wq fuzz/fuzz_ctl fuzz/fuzz_config models/libtm_example.so \
	>"$bdir/fuzz-build.log" 2>&1; then
	tail -n 40 "$bdir/fuzz-build.log"
	echo "run.sh: build failed (full log: $bdir/fuzz-build.log)" >&2
	exit 1
fi

# Whatever the caller's settings, every report must be fatal (options given
# later win).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:print_summary=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$src/fuzz/lsan.supp:print_suppressions=0
export TM_EXAMPLE=$bdir/models/libtm_example.so
export SONUMA_LOG=err
unset SONUMA_FUZZ_SKIP SONUMA_FUZZ_CTL_INFLIGHT SONUMA_FUZZ_CTL_BIG_LBUFF SONUMA_FUZZ_TRACE

fail=0
summary=()

# The report of one run: from the first sign of trouble on.
show_report() {
	local log=$1
	local from
	from=$(grep -n -m1 -E 'check failed|ERROR: |runtime error|WARNING: .*Sanitizer|==[0-9]+==' "$log" | cut -d: -f1)
	if [ -n "$from" ]; then
		sed -n "$((from > 3 ? from - 3 : 1)),$((from + 40))p" "$log" | sed 's/^/    /'
	else
		tail -n 30 "$log" | sed 's/^/    /'
	fi
}

for h in "${harnesses[@]}"; do
	bin=$bdir/fuzz/$h
	if [ $fresh = 1 ]; then
		work=$bdir/fuzz/ci/$h
		rm -rf "$work"
	else
		work=$bdir/fuzz/work/$h
	fi
	mkdir -p "$work/corpus" "$work/artifacts"

	if [ $replay = 1 ] && ls "$src/fuzz/crashes/$h/"* >/dev/null 2>&1; then
		for f in "$src/fuzz/crashes/$h/"*; do
			if ! (cd "$work" && "$bin" -runs=1 "$f" >"$work/replay.log" 2>&1); then
				echo "!! $h: saved input fuzz/crashes/$h/$(basename "$f") still fails:"
				show_report "$work/replay.log"
				summary+=("$h: saved input $(basename "$f") FAILS")
				fail=1
			fi
		done
	fi

	echo "== $h: fuzzing for $time s"
	rm -f "$work/fuzz-0.log"
	touch "$work/.start" # findings of this run: artifacts newer than this
	# shellcheck disable=SC2086
	(cd "$work" && "$bin" -jobs=1 -workers=1 -max_total_time="$time" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		${FUZZ_ARGS:-} "$work/corpus" "$src/fuzz/corpus/$h" >"$work/driver.log" 2>&1)
	rc=$?
	log=$work/fuzz-0.log
	[ -f "$log" ] || log=$work/driver.log
	execs=$(grep -a -m1 'stat::number_of_executed_units:' "$log" | awk '{print $2}')
	if [ -z "$execs" ]; then
		execs=$(grep -a -E '^#[0-9]+' "$log" | tail -n 1 | sed -E 's/^#([0-9]+).*/\1/')
	fi
	cov=$(grep -a -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1 ft \2/')
	corp=$(grep -a -E '^#[0-9]+.*corp: ' "$log" | tail -n 1 | sed -E 's/.*corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/')
	findings=$(find "$work/artifacts" -type f -newer "$work/.start" | wc -l)
	line="$h: ${execs:-0} executions, ${cov:-no coverage line (stopped in the seeds)}, corpus ${corp:-?}, findings: $findings"
	echo "   $line"
	summary+=("$line")
	if [ "$rc" != 0 ] || [ "$findings" != 0 ]; then
		fail=1
		echo "!! $h: exit status $rc; findings:"
		find "$work/artifacts" -type f -newer "$work/.start" | sed 's/^/     /'
		show_report "$log"
	fi
done

echo "== summary ($(( $(date +%s) - t_start )) s)"
for l in "${summary[@]}"; do echo "   $l"; done
if [ $fail != 0 ]; then
	echo "FAILED: see the reports above; reproduce one with $bdir/fuzz/HARNESS FILE"
	exit 1
fi
echo "OK: no findings"

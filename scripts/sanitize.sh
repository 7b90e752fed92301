#!/bin/bash
# SPDX-License-Identifier: MIT
#
# sanitize.sh: builds sonuma with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan) and with ThreadSanitizer (build-tsan), each in its own build
# directory beside build/ (never touched), and runs the test suites there
# with every sanitizer report fatal.  See --help.
set -uo pipefail
# UCX's memory hooks (ucm) patch mmap and munmap in every process that
# loads it (rmcd and the unit tests link the ucx fabric), and fight the
# sanitizers' own interceptors: TSan crashes at start.  The fabric does not
# need them (it registers its memory itself).
export UCX_MEM_EVENTS=no

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prog=sanitize.sh

usage() {
	cat <<EOF
Usage: scripts/sanitize.sh [options]

  build-asan  -Db_sanitize=address,undefined -Db_lundef=false
              meson test: every suite but qemu (which boots a guest)
  build-tsan  -Db_sanitize=thread -Db_lundef=false
              meson test: the queue/RMC suites (qp, validate, integration,
              timing, soak, atomics, msg, fabric, pernode: those of them
              that exist)

Options:
  --asan | --tsan     only that one (default both)
  --cc gcc|clang      compiler (default gcc; the build directories remember
                      theirs: a different one needs --wipe)
  --wipe              delete and configure the build directories afresh
  --suite NAME        (repeatable) TSan: run these tests instead
  --jobs N            ninja -j (default: the number of CPUs)
  --timeout-multiplier N   passed to meson test (default 4)
  --no-leaks          ASan without LeakSanitizer (detect_leaks=0): shows the
                      memory errors that a leak report at exit would hide
  -h, --help          this text

Sanitizer options (each report aborts the process, so the test fails):
  ASAN_OPTIONS  abort_on_error=1:halt_on_error=1:detect_leaks=1:...
  UBSAN_OPTIONS halt_on_error=1:abort_on_error=1:print_stacktrace=1
  LSAN_OPTIONS  suppressions=tests/lsan.supp when that file exists
  TSAN_OPTIONS  halt_on_error=1:abort_on_error=1:second_deadlock_stack=1
                (+ suppressions=tests/tsan.supp when that file exists)
Every report goes to a file, DIR/sanitizer-logs/{asan,ubsan,tsan}.PID
(log_path), so that one from a child whose output a test discards (rmcd
under the integration harness, a soak process) is still seen: the script
fails on any such file and prints them.

ThreadSanitizer and Criterion: BoxFort (inside libcriterion) places its
inheritable arena at a random address in 0x2000..0x6000'0000'0000 and gives
up after a few tries; TSan reserves nearly all of that range, so a TSan test
binary aborts at start with "Could not initialize inheritable arena"
(Criterion issue #274; about 1 run in 30 gets through with gcc here).  The
TSan run therefore preloads a small shim, built into
build-tsan/criterion-tsan-shim.so, that answers BoxFort's rand_r() calls (and
only those: it checks the caller is libcriterion) so that the arena lands in
TSan's application range at 0x5600'0000'0000.  Nothing else changes.

Logs: build-{asan,tsan}/meson-logs/testlog*.txt.  Exit status: 0 when every
build and test passed, 1 otherwise, 2 on bad usage.
EOF
}

bad_usage() {
	printf '%s: %s (see --help)\n' "$prog" "$*" >&2
	exit 2
}

do_asan=1 do_tsan=1 cc=gcc wipe=0 leaks=1 jobs=$(nproc) tmult=4 tsan_tests=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--asan) do_asan=1 do_tsan=0; shift ;;
	--tsan) do_asan=0 do_tsan=1; shift ;;
	--cc) [[ $# -ge 2 ]] || bad_usage "--cc needs a value"; cc=$2; shift 2 ;;
	--wipe) wipe=1; shift ;;
	--suite) [[ $# -ge 2 ]] || bad_usage "--suite needs a value"; tsan_tests+=("$2"); shift 2 ;;
	--jobs) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || bad_usage "--jobs needs a number"; jobs=$2; shift 2 ;;
	--timeout-multiplier)
		[[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || bad_usage "--timeout-multiplier needs a number"
		tmult=$2
		shift 2
		;;
	--no-leaks) leaks=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) bad_usage "unknown argument \"$1\"" ;;
	esac
done
case $cc in
gcc) cxx=g++ ;;
clang) cxx=clang++ ;;
*) bad_usage "--cc: gcc or clang, got \"$cc\"" ;;
esac
command -v "$cc" >/dev/null || { echo "$prog: $cc not found" >&2; exit 1; }

cd "$root" || exit 1
failures=()
t_start=$SECONDS

# Configures (once) and builds build directory $1 with sanitizers $2.
build() {
	local dir=$1 san=$2
	if ((wipe)); then
		rm -rf "$dir"
	fi
	if [[ ! -f $dir/build.ninja ]]; then
		local log
		log=$(mktemp)
		echo "=== $prog: meson setup $dir (-Db_sanitize=$san, $cc)"
		CC=$cc CXX=$cxx meson setup "$dir" \
			-Db_sanitize="$san" -Db_lundef=false -Dfuzz=false \
			-Dbuildtype=debugoptimized >"$log" 2>&1 || {
			cat "$log" >&2
			rm -f "$log"
			return 1
		}
		rm -f "$log"
	fi
	echo "=== $prog: ninja -C $dir"
	ninja -C "$dir" -j "$jobs" || return 1
}

# Runs meson test in $1 (what: $2) with the rest as arguments; reports in
# failures.  Sanitizer reports go to $1/sanitizer-logs (log_path).
run_tests() {
	local dir=$1 what=$2 t0=$SECONDS rc f
	shift 2
	echo "=== $prog: meson test -C $dir $*"
	rm -f "$dir"/meson-logs/testlog*.txt
	meson test -C "$dir" --print-errorlogs --logbase testlog --timeout-multiplier "$tmult" "$@"
	rc=$?
	# meson adds a suffix to the log's name when the environment is set
	# (testlog-env.txt): take whichever it wrote.
	local tlog=("$dir"/meson-logs/testlog*.txt)
	echo "=== $prog: $what: exit status $rc after $((SECONDS - t0)) s"
	((rc == 0)) || failures+=("$what: meson test failed (see ${tlog[0]})")
	# Reports, also those of children whose status no test checked.
	local reports=("$dir"/sanitizer-logs/*)
	if [[ -e ${reports[0]} ]]; then
		failures+=("$what: ${#reports[@]} sanitizer report file(s) in $dir/sanitizer-logs")
		for f in "${reports[@]}"; do
			echo "--- $f"
			head -n 60 "$f"
		done
	fi
	local pat='^(==[0-9]+==ERROR: |SUMMARY: (Address|Undefined|Thread|Leak)Sanitizer)'
	pat+='|runtime error:|WARNING: ThreadSanitizer'
	if [[ ! -e ${tlog[0]} ]]; then
		failures+=("$what: meson wrote no test log in $dir/meson-logs")
	elif grep -qE "$pat" "${tlog[@]}"; then
		failures+=("$what: sanitizer report in ${tlog[0]}")
	fi
}

# A fresh directory for the report files of one run.
logs_dir() {
	rm -rf "$1/sanitizer-logs"
	mkdir -p "$1/sanitizer-logs"
	printf '%s' "$1/sanitizer-logs"
}

if ((do_asan)); then
	t0=$SECONDS
	if build build-asan address,undefined; then
		logdir=$(logs_dir "$root/build-asan")
		ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=$leaks:print_summary=1
		ASAN_OPTIONS+=:detect_stack_use_after_return=1:check_initialization_order=1
		ASAN_OPTIONS+=:strict_init_order=1:log_path=$logdir/asan
		UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1
		UBSAN_OPTIONS+=:log_path=$logdir/ubsan
		export ASAN_OPTIONS UBSAN_OPTIONS
		if [[ -f tests/lsan.supp ]]; then
			export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
		fi
		run_tests build-asan "ASan+UBSan" --no-suite qemu
		unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
	else
		failures+=("ASan+UBSan build")
	fi
	echo "=== $prog: ASan+UBSan took $((SECONDS - t0)) s"
fi

if ((do_tsan)); then
	t0=$SECONDS
	if build build-tsan thread; then
		logdir=$(logs_dir "$root/build-tsan")
		TSAN_OPTIONS=halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:history_size=4
		TSAN_OPTIONS+=:log_path=$logdir/tsan
		export TSAN_OPTIONS
		if [[ -f tests/tsan.supp ]]; then
			TSAN_OPTIONS+=:suppressions=$root/tests/tsan.supp
		fi
		if ((${#tsan_tests[@]} == 0)); then
			listed=$(meson test -C build-tsan --list 2>/dev/null)
			for t in qp validate integration timing soak atomics msg fabric pernode; do
				grep -qE "(^| )$t\$" <<<"$listed" && tsan_tests+=("$t")
			done
		fi
		# The shim that lets Criterion start under TSan (see --help).
		cat >build-tsan/criterion-tsan-shim.c <<'SHIM'
/* Written by scripts/sanitize.sh: answers BoxFort's rand_r() (and only
 * BoxFort's, inside libcriterion) so that Criterion's inheritable arena
 * lands at 0x5600'0000'0000 + k GiB, in TSan's application range
 * (Criterion issue #274).  base = 0x2000'0000'0000 + (r & 0x3fffff) << 24. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
int rand_r(unsigned *seed)
{
	static int (*real)(unsigned *);
	static unsigned k;
	Dl_info di;
	if (dladdr(__builtin_return_address(0), &di) && di.dli_fname &&
	    strstr(di.dli_fname, "libcriterion"))
		return (int)(0x360000u + (k++ % 256) * 64);
	if (!real)
		real = (int (*)(unsigned *))dlsym(RTLD_NEXT, "rand_r");
	return real(seed);
}
SHIM
		if ! "$cc" -shared -fPIC -O2 -o build-tsan/criterion-tsan-shim.so \
			build-tsan/criterion-tsan-shim.c -ldl; then
			failures+=("TSan: cannot build the Criterion shim")
		fi
		echo "=== $prog: TSan tests: ${tsan_tests[*]}"
		run_tests build-tsan "TSan" --no-suite qemu \
			--wrapper "env LD_PRELOAD=$root/build-tsan/criterion-tsan-shim.so" "${tsan_tests[@]}"
		unset TSAN_OPTIONS
	else
		failures+=("TSan build")
	fi
	echo "=== $prog: TSan took $((SECONDS - t0)) s"
fi

echo "=== $prog: $((SECONDS - t_start)) s in all"
if ((${#failures[@]})); then
	for f in "${failures[@]}"; do
		printf '%s: FAILED: %s\n' "$prog" "$f" >&2
	done
	exit 1
fi
echo "$prog: passed"

#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The original platform's README flow, one RMC per node, with programs
# written in the original's style (C++, only "sonuma.h", descriptor 0)
# compiled as the original's Makefile did: plain g++ ... -lsonuma -lrt.
#
#   rmcd 2 0 &   rmcd 2 1 &
#   bench_server          (node 1: writes its context, exits)
#   bench_sync 1 r        (node 0: reads the page numbers back)
#   bench_sync 1 w        (node 0: writes page + 0x10000)
#   bench_async 1 r       (node 0: reads those back through its handler)
#   bench_async 1 w
#
# Every value read is checked.  Usage:
#   flow.sh RMCD LIBDIR INCDIR... (meson passes them)
set -euo pipefail

rmcd=$1 libdir=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
incs=()
for d in "$@"; do incs+=("-I$d"); done

tmp=$(mktemp -d /tmp/sonuma-orig-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "flow.sh: FAIL: $*" >&2
	for f in "$tmp"/rmcd*.log; do echo "--- $f" >&2; cat "$f" >&2; done
	exit 1
}

for p in bench_server bench_sync bench_async nodes_up; do
	g++ "${incs[@]}" -o "$tmp/$p" "$src/$p.cpp" -L"$libdir" -lsonuma -lrt ||
		fail "g++ $p.cpp"
done
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# A libsonuma built with sanitizers (scripts/sanitize.sh) needs their
# runtime first in the programs the original's way builds without them.
pre=$(ldd "$libdir/libsonuma.so" 2>/dev/null | awk '/lib(asan|tsan)\.so/ { print $3 }' | tr '\n' ':')
[[ -n $pre ]] && export LD_PRELOAD=${pre%:}
export SONUMA_RUNDIR=$tmp/run

# Node 1 first, then node 0: any order works.
"$rmcd" 2 1 >"$tmp/rmcd1.log" 2>&1 & pids+=($!)
"$rmcd" 2 0 >"$tmp/rmcd0.log" 2>&1 & pids+=($!)
SONUMA_NODE=0 "$tmp/nodes_up" 20 || fail "node 0 does not reach node 1"
SONUMA_NODE=1 "$tmp/nodes_up" 20 || fail "node 1 does not reach node 0"

SONUMA_NODE=1 "$tmp/bench_server" >"$tmp/server.out" || fail "bench_server"
grep -q "wrote 4096 page numbers" "$tmp/server.out" || fail "bench_server: $(cat "$tmp/server.out")"

# check FILE OFFSET: every page i printed "read this number: i + OFFSET".
check() {
	awk -v off="$2" -f "$src/check_values.awk" "$1"
}

SONUMA_NODE=0 "$tmp/bench_sync" 1 r >"$tmp/sync_r.out" || fail "bench_sync 1 r: $(tail -3 "$tmp/sync_r.out")"
check "$tmp/sync_r.out" 0 || fail "bench_sync 1 r read wrong values"
SONUMA_NODE=0 "$tmp/bench_sync" 1 w >"$tmp/sync_w.out" || fail "bench_sync 1 w: $(tail -3 "$tmp/sync_w.out")"
SONUMA_NODE=0 "$tmp/bench_async" 1 r >"$tmp/async_r.out" || fail "bench_async 1 r"
check "$tmp/async_r.out" 65536 || fail "bench_async 1 r read wrong values"
grep -q "failed" "$tmp/async_r.out" && fail "bench_async 1 r: $(grep -m3 failed "$tmp/async_r.out")"
SONUMA_NODE=0 "$tmp/bench_async" 1 w >"$tmp/async_w.out" || fail "bench_async 1 w"
grep -q "4096 operations done" "$tmp/async_w.out" || fail "bench_async 1 w did not finish"
grep -q "failed" "$tmp/async_w.out" && fail "bench_async 1 w: $(grep -m3 failed "$tmp/async_w.out")"

for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || fail "an rmcd did not exit cleanly"; done
pids=()
grep -i "error" "$tmp"/rmcd*.log && fail "errors in rmcd's log"
echo "flow.sh: the original's flow with one rmcd per node: every value right"

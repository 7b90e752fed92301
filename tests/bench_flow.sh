#!/bin/bash
# SPDX-License-Identifier: MIT
# The original micro-benchmark flow, end to end, in a private run directory:
#   rmcd 2; sonuma-run -n 1 -- bench_server; sonuma-run -n 0 -- bench_sync 1 r
#   (and w), bench_async 1 r (and w); sonuma-bench --bw (throughput only)
#   and --same-buffer (one message per side); rmcd stopped with SIGTERM.
# Usage: bench_flow.sh RMCD SONUMA_RUN BENCH_SERVER BENCH_SYNC BENCH_ASYNC SONUMA_BENCH
set -uo pipefail

if [[ $# -ne 6 ]]; then
	echo "usage: $0 RMCD SONUMA_RUN BENCH_SERVER BENCH_SYNC BENCH_ASYNC SONUMA_BENCH" >&2
	exit 2
fi
rmcd=$1 run=$2 server=$3 sync=$4 async=$5 bench=$6

tmp=$(mktemp -d /tmp/sonuma-bench-flow-XXXXXX)
rundir=$tmp/run
rmcd_pid=
failures=0

# kill_now, term_rmcd
# shellcheck source=experiments/rmcd-lib.sh
. "$(dirname "$0")/../experiments/rmcd-lib.sh"

cleanup() {
	kill_now "$rmcd_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# Runs a command (on_node bounds its time), output in $tmp/out; returns its
# status.
step() {
	local what=$1
	shift
	echo "--- $what: $*"
	"$@" >"$tmp/out" 2>&1
	local rc=$?
	cat "$tmp/out"
	return $rc
}

# A sonuma-run of node $1 with the rest as the program.
on_node() {
	local node=$1
	shift
	timeout 60 "$run" -r "$rundir" -n "$node" -- "$@"
}

echo "--- rmcd -r $rundir 2"
"$rmcd" -r "$rundir" 2 >"$tmp/rmcd.log" 2>&1 &
rmcd_pid=$!

# Ready when both nodes answer (sonuma-run asks its node's rmcd).
ready=0
for _ in $(seq 1 400); do
	if "$run" -r "$rundir" -n 0 -- /bin/true 2>/dev/null &&
		"$run" -r "$rundir" -n 1 -- /bin/true 2>/dev/null; then
		ready=1
		break
	fi
	if ! kill -0 "$rmcd_pid" 2>/dev/null; then
		break
	fi
	sleep 0.05
done
if [[ $ready -ne 1 ]]; then
	echo "FAIL: rmcd did not come up; its log:" >&2
	cat "$tmp/rmcd.log" >&2
	exit 1
fi

check_bench() {
	local what=$1 mode=$2 op=$3
	shift 3
	step "$what" on_node 0 "$@"
	local rc=$?
	if [[ $rc -ne 0 ]]; then
		fail "$what exited with status $rc"
		return
	fi
	local want="16 $mode $op of 64 bytes from node 1: 16/16 values correct"
	grep -q "$want" "$tmp/out" || fail "$what did not say \"$want\""
	grep -q WRONG "$tmp/out" && fail "$what reported a WRONG value"
}

step "bench_server -1 on node 1" on_node 1 "$server" -1
rc=$?
[[ $rc -eq 0 ]] || fail "bench_server exited with status $rc"
grep -q "bench_server: node 1 wrote values" "$tmp/out" || fail "bench_server did not report"

check_bench "bench_sync 1 r" sync reads "$sync" 1 r
check_bench "bench_sync 1 w" sync writes "$sync" 1 w
# The writes zeroed the values: a read now must notice.
if step "bench_sync 1 r after the writes" on_node 0 "$sync" 1 r; then
	fail "bench_sync read zeroed values and said they were correct"
fi
grep -q "0/16 values WRONG" "$tmp/out" || fail "bench_sync did not report the zeroed values"

step "bench_server -1 again" on_node 1 "$server" -1
rc=$?
[[ $rc -eq 0 ]] || fail "bench_server exited with status $rc"
check_bench "bench_async 1 r" async reads "$async" 1 r
check_bench "bench_async 1 w" async writes "$async" 1 w

# Usage errors: exit 2 with a usage message.
for args in "1 x" "1" "1 r extra" "-n 0 1 r"; do
	# shellcheck disable=SC2086
	step "bench_sync $args" on_node 0 "$sync" $args
	rc=$?
	[[ $rc -eq 2 ]] || fail "bench_sync $args: exit status $rc, expected 2"
	grep -qi "usage\|must be" "$tmp/out" || fail "bench_sync $args: no usage message"
done
step "bench_sync 5 r (no node 5)" on_node 0 "$sync" 5 r
rc=$?
[[ $rc -eq 2 ]] || fail "bench_sync 5 r: exit status $rc, expected 2"
grep -q "does not exist" "$tmp/out" || fail "bench_sync 5 r: no message about node 5"

# sonuma-bench --bw: throughput without per-operation time stamps.  The
# latency columns stay in the CSV (same header, same column count) but are
# empty, JSON has null for them, the rate is still there.
step "sonuma-bench --bw async, CSV" on_node 0 "$bench" --bw -m async -s 64,4096 -n 2000 \
	-w 200 -f csv --output "$tmp/bw.csv"
rc=$?
if [[ $rc -ne 0 ]]; then
	fail "sonuma-bench --bw (CSV) exited with status $rc"
else
	cat "$tmp/bw.csv"
	grep -q '^# op: read; mode: async; .*; verify: true; bw: true; same_buffer: false$' \
		"$tmp/bw.csv" ||
		fail "sonuma-bench --bw: the CSV does not record verify: true, bw: true, same_buffer: false"
	# size,iterations,t_min..t_max (3-8),target,p50_err_pct (10),...,mops (14),errors,
	# model_ns,req_err_p50_pct,req_err_p99_pct (17-18)
	rows=$(grep -v '^#' "$tmp/bw.csv" | tail -n +2)
	[[ $(wc -l <<<"$rows") -eq 2 ]] || fail "sonuma-bench --bw: not one CSV row per size"
	bad=$(awk -F, 'NF != 18 || $3$4$5$6$7$8$10$17$18 != "" || !($14 > 0) || $15 != 0' <<<"$rows")
	[[ -z $bad ]] || fail "sonuma-bench --bw: rows with latencies, no rate or errors: $bad"
	# Set against the minimal agent, or saying why not, in a comment line.
	grep -q '^# \(rate vs agent: [0-9.]*x \|vs agent: no agent figures in the calibration\)' \
		"$tmp/bw.csv" || fail "sonuma-bench --bw: no comparison with the minimal agent"
fi
step "sonuma-bench --bw async, JSON" on_node 0 "$bench" --bw -m async -s 64,4096 -n 2000 \
	-w 200 --no-verify -f json --output "$tmp/bw.json"
rc=$?
if [[ $rc -ne 0 ]]; then
	fail "sonuma-bench --bw (JSON) exited with status $rc"
elif ! python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["config"]["bw"] is True, "config.bw is not true"
assert j["config"]["verify"] is False, "config.verify does not record --no-verify"
assert j["config"]["same_buffer"] is False, "config.same_buffer is not false"
lat = ("t_min_ns", "t_p50_ns", "t_avg_ns", "t_p99_ns", "t_p999_ns", "t_max_ns", "p50_err_pct")
assert [r["size"] for r in j["results"]] == [64, 4096], "not one result per size"
for r in j["results"]:
    assert all(r[k] is None for k in lat), "latencies in %r" % r
    assert r["mops"] > 0 and r["bw_MBps"] > 0 and r["errors"] == 0, "no rate in %r" % r
' "$tmp/bw.json"; then
	fail "sonuma-bench --bw: the JSON is not as expected"
	cat "$tmp/bw.json"
fi
# No time stamps, so nothing to write to --samples: refused (2), no file.
step "sonuma-bench --bw --samples" on_node 0 "$bench" --bw -m async -s 64 -n 100 \
	--samples "$tmp/bw-samples.csv"
rc=$?
[[ $rc -eq 2 ]] || fail "sonuma-bench --bw --samples: exit status $rc, expected 2"
grep -q -- "--bw and --samples" "$tmp/out" || fail "sonuma-bench --bw --samples: no message"
[[ ! -e $tmp/bw-samples.csv ]] || fail "sonuma-bench --bw --samples wrote the samples file"

# sonuma-bench --same-buffer: every operation of a size at offset 0, as
# ucx_perftest; the outstanding requests overlap in the local buffer, and
# the data check after each size still has to pass (it exits 1 and says
# "data wrong" otherwise).  Reads in CSV, writes in JSON, 64 KiB included
# so that overlapping requests span several pages.
step "sonuma-bench --same-buffer async read, CSV" on_node 0 "$bench" --same-buffer -m async \
	-d 8 -s 64,4096,65536 -n 2000 -w 200 -f csv --output "$tmp/same.csv"
rc=$?
if [[ $rc -ne 0 ]]; then
	fail "sonuma-bench --same-buffer (CSV) exited with status $rc"
else
	cat "$tmp/same.csv"
	grep -q "data wrong" "$tmp/out" && fail "sonuma-bench --same-buffer (CSV): data wrong"
	grep -q '^# op: read; mode: async; outstanding: 8; .*; bw: false; same_buffer: true$' \
		"$tmp/same.csv" || fail "sonuma-bench --same-buffer: the CSV does not record same_buffer: true"
	rows=$(grep -v '^#' "$tmp/same.csv" | tail -n +2)
	[[ $(wc -l <<<"$rows") -eq 3 ]] || fail "sonuma-bench --same-buffer: not one CSV row per size"
	# Latencies measured (p50 > 0), a rate, no errors (column 15).
	bad=$(awk -F, 'NF != 18 || !($4 > 0) || !($14 > 0) || $15 != 0' <<<"$rows")
	[[ -z $bad ]] || fail "sonuma-bench --same-buffer: rows without latency, rate or with errors: $bad"
fi
step "sonuma-bench --same-buffer async write, JSON" on_node 0 "$bench" --same-buffer -m async \
	-o write -d 8 -s 64,4096,65536 -n 2000 -w 200 -f json --output "$tmp/same.json"
rc=$?
if [[ $rc -ne 0 ]]; then
	fail "sonuma-bench --same-buffer (JSON) exited with status $rc"
else
	grep -q "data wrong" "$tmp/out" && fail "sonuma-bench --same-buffer (JSON): data wrong"
	if ! python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
c = j["config"]
assert c["same_buffer"] is True, "config.same_buffer is not true"
assert c["op"] == "write" and c["mode"] == "async" and c["bw"] is False, "config %r" % c
assert [r["size"] for r in j["results"]] == [64, 4096, 65536], "not one result per size"
for r in j["results"]:
    assert r["errors"] == 0 and r["t_p50_ns"] > 0 and r["mops"] > 0, "result %r" % r
' "$tmp/same.json"; then
		fail "sonuma-bench --same-buffer: the JSON is not as expected"
		cat "$tmp/same.json"
	fi
fi
# The ping-pongs move no buffer through reads and writes: refused (2).
step "sonuma-bench --same-buffer --msg-pingpong" on_node 0 "$bench" --same-buffer --msg-pingpong \
	-n 100
rc=$?
[[ $rc -eq 2 ]] || fail "sonuma-bench --same-buffer --msg-pingpong: exit status $rc, expected 2"
grep -q -- "--same-buffer goes with reads and writes" "$tmp/out" ||
	fail "sonuma-bench --same-buffer --msg-pingpong: no message"

# SIGTERM: exit status 0, sockets gone.
echo "--- SIGTERM rmcd"
term_rmcd
socks=$(find "$rundir" -name 'node*.sock' 2>/dev/null | wc -l)
[[ $socks -eq 0 ]] || fail "rmcd left $socks socket(s) in $rundir"
echo "--- rmcd log"
cat "$tmp/rmcd.log"

if [[ $failures -ne 0 ]]; then
	echo "bench_flow: $failures failure(s)" >&2
	exit 1
fi
echo "bench_flow: all steps passed"

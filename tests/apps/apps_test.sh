#!/bin/bash
# SPDX-License-Identifier: MIT
#
# apps_test.sh CASE: one correctness case of the soNUMA applications
# against a real rmcd of its own (a private temporary run directory, small
# contexts, unlocked memory).  Exit 0 on success, 1 on a failure (with the
# reason and the programs' messages), 77 when skipped.  No timing is
# asserted: only exit statuses and the programs' own checks.
#
#   kv-none        sonuma-kv, 2 nodes, model none: 1000 keys, 2 x 1500 ops
#                  (80 % gets, Zipf), one writer per key, exact final check
#   kv-fixed       sonuma-kv, 4 nodes, fixed 1 us: any writer puts any key
#                  (locks contend), 4 x 800 ops, exact final check
#   kv-threads     sonuma-kv, 3 nodes, fixed 300 ns, 2 threads per process,
#                  the checksum-only get, uniform keys, 6 x 500 ops
#   kv-contended   sonuma-kv, 2 nodes x 2 threads, model none: 16 keys, half
#                  puts by any writer (the locks of hot slots contend),
#                  4 x 1500 ops
#   pr-none        sonuma-pagerank, 2 nodes, model none: 4096 vertices
#   pr-fixed       sonuma-pagerank, 3 nodes, fixed 500 ns: 3001 vertices
#                  (ranges not multiples of 8 at the end), 64-byte reads
#   cli            --help, bad arguments (status 2 and a usage message),
#                  no rmcd (status 1 and a clear message), processes started
#                  with different options
#
# Usage: apps_test.sh --rmcd RMCD --run SONUMA_RUN --kv SONUMA_KV
#                     --pagerank SONUMA_PAGERANK CASE
set -uo pipefail

prog=apps_test.sh
rmcd="" srun="" kv="" pr="" case=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--rmcd) rmcd=$2; shift 2 ;;
	--run) srun=$2; shift 2 ;;
	--kv) kv=$2; shift 2 ;;
	--pagerank) pr=$2; shift 2 ;;
	-h | --help) sed -n '3,25p' "$0"; exit 0 ;;
	-*) echo "$prog: unknown option $1" >&2; exit 2 ;;
	*) case=$1; shift ;;
	esac
done
for p in "$rmcd" "$srun" "$kv" "$pr"; do
	[[ -x $p ]] || { echo "$prog: not an executable: \"$p\"" >&2; exit 2; }
done
[[ -n $case ]] || { echo "$prog: no CASE" >&2; exit 2; }

tmp=$(mktemp -d /tmp/sonuma-apps-test.XXXXXX) || exit 1
rmcd_pid="" pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	if [[ -n $rmcd_pid ]]; then
		kill -KILL "$rmcd_pid" 2>/dev/null
		wait "$rmcd_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL ($case): $*" >&2
	local f
	for f in "$tmp"/*.err "$tmp"/*.out; do
		[[ -s $f ]] || continue
		echo "---- $(basename "$f")" >&2
		head -n 40 "$f" >&2
	done
	if [[ -f $tmp/rmcd.log ]]; then
		echo "---- rmcd.log" >&2
		tail -n 20 "$tmp/rmcd.log" >&2
	fi
	exit 1
}

# start_rmcd NODES MODEL-SETTINGS
start_rmcd() {
	local nodes=$1 model=$2 i ok
	cat >"$tmp/rmc.conf" <<EOF
# written by apps_test.sh
cluster = { nodes = $nodes; context_pages = 2048; max_transfer = 65536; lock_memory = false; };
model = { $model };
EOF
	"$rmcd" -c "$tmp/rmc.conf" -r "$tmp/run" >"$tmp/rmcd.log" 2>&1 &
	rmcd_pid=$!
	for _ in $(seq 400); do
		kill -0 "$rmcd_pid" 2>/dev/null || { rmcd_pid=""; fail "rmcd exited while starting"; }
		ok=1
		for ((i = 0; i < nodes; i++)); do
			[[ -S $tmp/run/node$i.sock ]] || { ok=0; break; }
		done
		((ok)) && return 0
		sleep 0.05
	done
	fail "rmcd did not come up within 20 s"
}

stop_rmcd() {
	kill -TERM "$rmcd_pid" 2>/dev/null
	local rc=0
	wait "$rmcd_pid" || rc=$?
	rmcd_pid=""
	((rc == 0)) || fail "rmcd exited with status $rc on SIGTERM"
}

# run_all NODES PROGRAM ARGS...: one process per node, each with --csv
# $tmp/nodeI.csv; fails unless every one exits 0 within 50 s.
run_all() {
	local nodes=$1 i rc
	shift
	pids=()
	for ((i = 0; i < nodes; i++)); do
		timeout -k 2 50 "$srun" -n "$i" -r "$tmp/run" -- "$@" --barrier-timeout 40 \
			--csv "$tmp/node$i.csv" >"$tmp/node$i.out" 2>"$tmp/node$i.err" &
		pids+=($!)
	done
	for ((i = 0; i < nodes; i++)); do
		rc=0
		wait "${pids[$i]}" || rc=$?
		((rc == 0)) || fail "node $i: $(basename "$1") exited with status $rc$( ((rc == 124)) && echo ' (timed out)')"
	done
	pids=()
}

# field FILE NAME: the value of column NAME in the "all" row of a CSV.
field() {
	grep -v '^#' "$1" | awk -F, -v name="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		$2 == "all" && c { print $c }'
}

# kv_check NODES KEYS OPS_TOTAL: the cluster's row says all is well.
kv_check() {
	local csv=$tmp/node0.csv k v
	[[ -f $csv ]] || fail "process 0 wrote no CSV"
	for k in errors corrupt stale final_bad; do
		v=$(field "$csv" "$k")
		[[ $v == 0 ]] || fail "$k = \"$v\" (expected 0)"
	done
	v=$(field "$csv" final_checked)
	[[ -n $v ]] && ((v >= $2)) || fail "final check read $v keys of $2"
	v=$(field "$csv" ops)
	[[ $v == "$3" ]] || fail "ops = \"$v\", expected $3"
	echo "ok: $(field "$csv" ops) ops ($(field "$csv" gets) gets, $(field "$csv" puts) puts)," \
		"$(field "$csv" final_checked) keys read back, retries" \
		"locked/torn/changed $(field "$csv" retries_locked)/$(field "$csv" retries_torn)/$(field "$csv" retries_changed)," \
		"lock busy $(field "$csv" lock_busy)"
}

pr_check() {
	local csv=$tmp/node0.csv v
	[[ -f $csv ]] || fail "process 0 wrote no CSV"
	v=$(field "$csv" top_same)
	[[ $v == yes ]] || fail "top vertices: \"$v\" (expected yes)"
	v=$(field "$csv" max_abs_diff)
	awk -v d="$v" 'BEGIN { exit !(d != "" && d + 0 <= 1e-9) }' ||
		fail "largest difference from the single-node result: \"$v\""
	v=$(field "$csv" errors)
	[[ $v == 0 ]] || fail "errors = \"$v\""
	echo "ok: largest difference $(field "$csv" max_abs_diff), top vertices the same," \
		"$(field "$csv" remote_reads) remote reads per iteration"
}

# expect_status WANT WHAT CMD...: runs CMD, checks its status; stderr kept.
expect_status() {
	local want=$1 what=$2 rc=0
	shift 2
	"$@" >"$tmp/cli.out" 2>"$tmp/cli.err" || rc=$?
	((rc == want)) || fail "$what: status $rc, expected $want"
}

case $case in
kv-none)
	start_rmcd 2 'name = "none";'
	run_all 2 "$kv" --keys 1000 --ops 1500 --get-pct 80 --dist zipf
	kv_check 2 1000 3000
	stop_rmcd
	;;
kv-fixed)
	start_rmcd 4 'name = "fixed"; latency_ns = 1000;'
	run_all 4 "$kv" --keys 2000 --ops 800 --get-pct 70 --writers any --zipf-theta 0.9
	kv_check 4 2000 3200
	stop_rmcd
	;;
kv-threads)
	start_rmcd 3 'name = "fixed"; latency_ns = 300;'
	run_all 3 "$kv" --keys 1500 --ops 500 --threads 2 --get-pct 75 --get-check checksum \
		--dist uniform --value-size 200
	kv_check 3 1500 3000
	stop_rmcd
	;;
kv-contended)
	start_rmcd 2 'name = "none";'
	run_all 2 "$kv" --keys 16 --ops 1500 --threads 2 --get-pct 50 --writers any
	kv_check 2 16 6000
	stop_rmcd
	;;
pr-none)
	start_rmcd 2 'name = "none";'
	run_all 2 "$pr" --vertices 4096 --iters 8
	pr_check
	stop_rmcd
	;;
pr-fixed)
	start_rmcd 3 'name = "fixed"; latency_ns = 500;'
	run_all 3 "$pr" --vertices 3001 --edges 20000 --iters 6 --max-read 64 --outstanding 8 \
		--seed 7
	pr_check
	stop_rmcd
	;;
cli)
	for p in "$kv" "$pr"; do
		n=$(basename "$p")
		expect_status 0 "$n --help" "$p" --help
		grep -q '^Usage:' "$tmp/cli.out" || fail "$n --help printed no usage"
		expect_status 2 "$n --no-such-option" "$p" --no-such-option
		grep -q 'Usage:' "$tmp/cli.err" || fail "$n: a bad option printed no usage"
		expect_status 2 "$n with an extra argument" "$p" extra
		SONUMA_RUNDIR=$tmp/nothing-here SONUMA_NODE=0 expect_status 1 "$n without rmcd" "$p"
		grep -q 'is rmcd running' "$tmp/cli.err" || fail "$n without rmcd: no clear message"
	done
	for bad in "--keys 0" "--keys x" "--value-size 12" "--get-pct 101" "--dist normal" \
		"--zipf-theta 1" "--time -1" "--threads 0" "--threads 99" "--get-check none" \
		"--writers some" "--format xml" "--label a,b"; do
		# shellcheck disable=SC2086
		expect_status 2 "sonuma-kv $bad" "$kv" $bad
		grep -q 'Usage:' "$tmp/cli.err" || fail "sonuma-kv $bad: no usage message"
	done
	for bad in "--vertices 1" "--edges 0" "--iters 0" "--iters 1000" "--damping 1" \
		"--outstanding 0" "--max-read 100" "--rmat 0.5,0.5" "--rmat 1,0,0" "--tolerance x" \
		"--top 0"; do
		# shellcheck disable=SC2086
		expect_status 2 "sonuma-pagerank $bad" "$pr" $bad
		grep -q 'Usage:' "$tmp/cli.err" || fail "sonuma-pagerank $bad: no usage message"
	done
	# Against a live rmcd: more processes than nodes, a node outside --procs.
	start_rmcd 2 'name = "none";'
	SONUMA_RUNDIR=$tmp/run SONUMA_NODE=0 expect_status 2 "sonuma-kv --procs 3 on 2 nodes" \
		"$kv" --procs 3
	SONUMA_RUNDIR=$tmp/run SONUMA_NODE=1 expect_status 2 "sonuma-pagerank on node 1 with --procs 1" \
		"$pr" --procs 1
	grep -q 'only nodes 0..0 take part' "$tmp/cli.err" || fail "node outside --procs: unclear message"
	# Processes started with different options: refused, not a wrong result.
	pids=()
	SONUMA_RUNDIR=$tmp/run SONUMA_NODE=0 timeout -k 2 30 "$kv" --keys 100 --ops 10 \
		--barrier-timeout 5 >"$tmp/a.out" 2>"$tmp/a.err" &
	pids+=($!)
	SONUMA_RUNDIR=$tmp/run SONUMA_NODE=1 timeout -k 2 30 "$kv" --keys 100 --ops 10 --threads 2 \
		--barrier-timeout 5 >"$tmp/b.out" 2>"$tmp/b.err" &
	pids+=($!)
	rc_a=0 rc_b=0
	wait "${pids[0]}" || rc_a=$?
	wait "${pids[1]}" || rc_b=$?
	pids=()
	((rc_a != 0 || rc_b != 0)) || fail "processes with different options both succeeded"
	grep -q 'other parameters' "$tmp/b.err" || fail "different options: no clear message"
	grep -q 'waiting for the other processes' "$tmp/a.err" ||
		fail "process 0 did not say what it waited for"
	stop_rmcd
	echo "ok: usage, bad arguments, missing rmcd and mismatched processes"
	;;
*)
	echo "$prog: unknown case \"$case\"" >&2
	exit 2
	;;
esac
exit 0

# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2154
# rmcd's lifecycle for the experiment scripts (sweep.sh, apps/common.sh,
# soak.sh) and the tests that run rmcd from a script: sourced, not run.  The
# caller defines die (prints "$prog: ..." and exits 1) and rmcd (the
# binary), and owns the variables rmcd_pid, rmcd_log and rundir, which its
# cleanup trap uses.  rundir_tag names the run directory (default sonuma).

# alive PID: running (a zombie not yet reaped by bash counts as dead).
alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[[ -n $st && $st != Z && $st != X ]]
}

show_log() { # FILE TITLE
	echo "---- $2 ($1) ----" >&2
	tail -n 40 "$1" >&2 || true
	echo "----" >&2
}

# start_rmcd CONF LOG NODES [ARGS...]: rmcd in a fresh private run
# directory ($rundir), ready when every node socket exists.
start_rmcd() {
	local conf=$1 log=$2 nodes=$3 i ok
	shift 3
	rundir=$(mktemp -d "${TMPDIR:-/tmp}/${rundir_tag:-sonuma}.XXXXXX")
	rmcd_log=$log
	SONUMA_RUNDIR=$rundir "$rmcd" -c "$conf" -r "$rundir" "$@" >"$log" 2>&1 &
	rmcd_pid=$!
	for _ in $(seq 200); do # 20 s
		if ! alive "$rmcd_pid"; then
			local rc=0
			wait "$rmcd_pid" || rc=$?
			rmcd_pid=""
			show_log "$log" "rmcd log"
			die "rmcd exited (status $rc) before serving $(basename "$conf"); its log is above and in $log"
		fi
		ok=1
		for ((i = 0; i < nodes; i++)); do
			[[ -S $rundir/node$i.sock ]] || { ok=0; break; }
		done
		((ok)) && return 0
		sleep 0.1
	done
	show_log "$log" "rmcd log"
	die "rmcd did not create the $nodes node sockets in $rundir within 20 s"
}

# stop_rmcd: SIGTERM, and rmcd must exit 0 within 10 s; removes $rundir.
stop_rmcd() {
	local rc=0
	kill -TERM "$rmcd_pid" 2>/dev/null || true
	for _ in $(seq 100); do alive "$rmcd_pid" || break; sleep 0.1; done
	if alive "$rmcd_pid"; then
		kill -KILL "$rmcd_pid" 2>/dev/null || true
		wait "$rmcd_pid" 2>/dev/null || true
		rmcd_pid=""
		show_log "$rmcd_log" "rmcd log"
		die "rmcd did not stop within 10 s of SIGTERM (killed); log: $rmcd_log"
	fi
	wait "$rmcd_pid" || rc=$?
	rmcd_pid=""
	rm -rf "$rundir"
	rundir=""
	if ((rc != 0)); then
		show_log "$rmcd_log" "rmcd log"
		die "rmcd exited with status $rc on SIGTERM (expected 0); log: $rmcd_log"
	fi
}

# term_rmcd: SIGTERM to rmcd, which must exit 0 within 10 s; otherwise
# says so through the caller's fail (a test counts it and goes on).
term_rmcd() {
	local rc=""
	kill -TERM "$rmcd_pid" 2>/dev/null
	for _ in $(seq 1 200); do
		if ! kill -0 "$rmcd_pid" 2>/dev/null; then
			rc=0
			wait "$rmcd_pid" || rc=$?
			break
		fi
		sleep 0.05
	done
	if [[ -z $rc ]]; then
		fail "rmcd did not exit within 10 s of SIGTERM"
	else
		rmcd_pid=""
		((rc == 0)) || fail "rmcd exited with status $rc on SIGTERM"
	fi
}

# end_rmcd [WHY]: for a cleanup trap: rmcd, if it still runs, gets SIGTERM
# and after 5 s SIGKILL (said as "$prog: rmcd (pid P) WHY" when WHY is
# given); $rundir is removed.
end_rmcd() {
	if [[ -n $rmcd_pid ]] && alive "$rmcd_pid"; then
		kill -TERM "$rmcd_pid" 2>/dev/null || true
		for _ in $(seq 50); do alive "$rmcd_pid" || break; sleep 0.1; done
		if alive "$rmcd_pid"; then
			[[ -z ${1:-} ]] || echo "$prog: rmcd (pid $rmcd_pid) $1" >&2
			kill -KILL "$rmcd_pid" 2>/dev/null || true
		fi
		wait "$rmcd_pid" 2>/dev/null || true
	fi
	[[ -z $rundir || ! -d $rundir ]] || rm -rf "$rundir"
}

# kill_now PID...: SIGKILL to each PID given that still runs, and waits
# for it (a cleanup trap's last word).
kill_now() {
	local p
	for p in "$@"; do
		[[ -n $p ]] && kill -0 "$p" 2>/dev/null || continue
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

# exit_traps CLEANUP: CLEANUP runs on exit, also after SIGINT (status 130)
# or SIGTERM (143), which are said.
exit_traps() {
	trap "$1" EXIT
	trap 'echo; echo "$prog: interrupted" >&2; exit 130' INT
	trap 'echo "$prog: terminated" >&2; exit 143' TERM
}

# bench_setup TAG: for a script that runs sonuma-bench against its own
# rmcds: rmcd, run and bench from $build (which must hold them), a private
# $tmp, and a cleanup on exit that ends rmcd and removes $tmp.
bench_setup() {
	local b
	rmcd=$build/rmcd/rmcd run=$build/experiments/sonuma-run bench=$build/experiments/sonuma-bench
	for b in "$rmcd" "$run" "$bench"; do [[ -x $b ]] || die "$b: not built (scripts/build.sh)"; done
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	rmcd_pid="" rmcd_log="" rundir="" rundir_tag=$1
	exit_traps 'end_rmcd; rm -rf "$tmp"'
}

# first_cpus: the first two CPUs this script may run on, one per line.
first_cpus() {
	taskset -pc $$ | sed 's/.*: //' | tr ',' '\n' |
		awk -F- '{ e = NF > 1 ? $2 : $1; for (c = $1; c <= e; c++) print c }' | head -2
}

# pingpong_p50 BENCH FROM TO ITERS: the p50 round trip of a cache line
# between CPUs FROM and TO (sonuma-bench --pingpong), in ns; the machine's
# state, which on some virtual machines flips from one run to the next.
pingpong_p50() {
	taskset -c "$2" "$1" --pingpong "$3" -n "$4" -w $(($4 / 10)) |
		sed -n 's/.* p50 \([0-9.]*\) .*/\1/p'
}

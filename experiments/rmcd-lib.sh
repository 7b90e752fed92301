# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2154
# rmcd's lifecycle for the experiment scripts (sweep.sh, apps/common.sh):
# sourced, not run.  The caller defines die (prints "$prog: ..." and exits 1)
# and rmcd (the binary), and owns the variables rmcd_pid, rmcd_log and
# rundir, which its cleanup trap uses.  rundir_tag names the run directory
# (default sonuma).

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

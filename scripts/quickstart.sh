#!/bin/bash
# The main job, from a fresh Debian 12 machine to plots:
#   installs what is missing, builds, calibrates this machine once (reused
#   afterwards), starts a 2-node emulated cluster and runs the original
#   soNUMA micro-benchmark flow on it, then sweeps request sizes over the
#   shipped timing models and writes the plots.
# Options are passed to experiments/sweep.sh (try --quick for a short run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/build

step() { printf '\n== %s\n' "$*"; }

step "setting up (Debian packages) and building"
scripts/deps.sh
scripts/build.sh

cal=${SONUMA_CALIBRATION:-${XDG_DATA_HOME:-$HOME/.local/share}/sonuma/calibration.cfg}
if "$bin/calibrate/sonuma-calibrate" --check -o "$cal" >/dev/null 2>&1; then
	step "calibration: reusing $cal"
else
	step "calibrating this machine once (written to $cal)"
	"$bin/calibrate/sonuma-calibrate" -o "$cal"
fi

step "the original micro-benchmarks on a 2-node cluster"
rundir=$(mktemp -d /tmp/sonuma-quickstart.XXXXXX)
rmcd_pid=
cleanup() {
	[[ -n $rmcd_pid ]] && kill -TERM "$rmcd_pid" 2>/dev/null && wait "$rmcd_pid" 2>/dev/null
	[[ -n ${server_pid:-} ]] && kill -TERM "$server_pid" 2>/dev/null
	rm -rf "$rundir"
}
trap cleanup EXIT
export SONUMA_RUNDIR=$rundir
"$bin/rmcd/rmcd" --calibration "$cal" 2 2>"$rundir/rmcd.log" &
rmcd_pid=$!
for _ in $(seq 100); do
	[[ -S $rundir/node0.sock && -S $rundir/node1.sock ]] && break
	kill -0 "$rmcd_pid" 2>/dev/null || { cat "$rundir/rmcd.log"; exit 1; }
	sleep 0.1
done
run() { echo "\$ sonuma-run -n $1 -- ${*:2}"; "$bin/experiments/sonuma-run" -n "$1" -- "$bin/experiments/${2}" "${@:3}"; }
"$bin/experiments/sonuma-run" -n 1 -- "$bin/experiments/bench_server" > "$rundir/server.log" &
server_pid=$!
for _ in $(seq 50); do grep -q serving "$rundir/server.log" 2>/dev/null && break; sleep 0.1; done
cat "$rundir/server.log"
run 0 bench_sync 1 r
run 0 bench_async 1 r
run 0 bench_sync 1 w
run 0 bench_async 1 w
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true
server_pid=
kill -TERM "$rmcd_pid"; wait "$rmcd_pid" || { cat "$rundir/rmcd.log"; exit 1; }
rmcd_pid=

if [[ -x experiments/sweep.sh ]]; then
	step "sweeping request sizes over the timing models"
	SONUMA_CALIBRATION=$cal experiments/sweep.sh "$@"
fi

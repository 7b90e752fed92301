#!/bin/bash
# The fidelity figures of the timing models, measured in one run:
#  1. fixed 1 us and link (500 ns + 1 hop of 50 ns + 10 GB/s), sizes 64 B to
#     64 KiB, synchronous and asynchronous (16 in flight) reads and writes:
#     median and p99 error against the model's target (asynchronous: each
#     request against the model's latency for it), and late completions, for
#     every size whose target is above the calibrated floor;
#  2. link bandwidth: many outstanding 64 KiB reads against the configured
#     bandwidth (never above it);
#  3. the floor: the none model's synchronous 64-byte read against the round
#     trip of a cache line between the two cores, measured interleaved.
# Each asynchronous run is followed by the minimal agent (sonuma-bench
# --agent --agent-latency) at each size, with the same requests in flight
# and the latency the model asked for at that size: the least any emulator
# could do on this machine, printed beside the emulator's figures.
# Usage: experiments/fidelity.sh [--iters N] [--out DIR] [--calibration FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${SONUMA_BUILD:-$root/build}
iters=20000
out=
cal=${SONUMA_CALIBRATION:-${XDG_DATA_HOME:-$HOME/.local/share}/sonuma/calibration.cfg}
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--iters) iters=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--calibration) cal=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "fidelity.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
[[ $iters =~ ^[0-9]+$ && $iters -gt 0 ]] || { echo "fidelity.sh: --iters: a positive number" >&2; exit 2; }
out=${out:-$root/results/fidelity-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
if ! "$bin/calibrate/sonuma-calibrate" --check -o "$cal" >/dev/null; then
	echo "fidelity.sh: no valid calibration of this machine at $cal: run sonuma-calibrate first" >&2
	exit 1
fi

rundir=$(mktemp -d /tmp/sonuma-fidelity.XXXXXX)
pid=
stop() {
	[[ -n $pid ]] || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}
trap 'stop; rm -rf "$rundir"' EXIT
export SONUMA_RUNDIR=$rundir

start() { # config file
	"$bin/rmcd/rmcd" -C "$cal" -c "$1" 2>"$out/rmcd-$(basename "$1" .conf).log" &
	pid=$!
	for _ in $(seq 200); do
		[[ -S $rundir/node0.sock && -S $rundir/node1.sock ]] && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$out/rmcd-$(basename "$1" .conf).log" >&2; exit 1; }
		sleep 0.05
	done
	echo "fidelity.sh: rmcd did not come up" >&2; exit 1
}
bench() { "$bin/experiments/sonuma-run" -n 0 -- "$bin/experiments/sonuma-bench" "$@"; }

# cpus: where node 0's programs run (sonuma-run pins there) and where the
# RMC thread runs, from rmcd's log; the agent and the ping-pong take them.
cpus() {
	rmc_cpu=$(sed -n 's/.*RMC thread 0 on CPU \([0-9]*\).*/\1/p' "$1" | head -1)
	app_cpu=$("$bin/experiments/sonuma-run" -n 0 -- sh -c 'grep Cpus_allowed_list /proc/self/status' |
		awk '{print $2}' | cut -d, -f1 | cut -d- -f1)
}

# agent_after RUN-CSV: the minimal agent on the RMC's CPU (rmcd stopped
# meanwhile) at each size of the run, 16 in flight, each size with the
# latency the model asked for there; into agent-RUN.csv.
agent_after() {
	local f=$1 a header=1 size model
	a=$out/agent-$(basename "$f")
	: >"$a"
	kill -STOP "$pid"
	grep -v '^#' "$f" | awk -F, 'NR > 1 { print $1, $16 }' | while read -r size model; do
		[[ -n $model ]] || continue
		taskset -c "$app_cpu" "$bin/experiments/sonuma-bench" --agent "$rmc_cpu" -m async -d 16 \
			--agent-latency "$(printf '%.0f' "$model")" -s "$size" -n "$iters" -w 2000 -f csv |
			grep -v '^#' | sed -n "$((header ? 1 : 2)),2p" >>"$a"
		header=0
	done
	kill -CONT "$pid"
}

echo "== 1. latency fidelity ($iters operations per size)"
for conf in fixed-1us link-10g; do
	start "$here/configs/$conf.conf"
	cpus "$out/rmcd-$conf.log"
	for op in read write; do
		for mode in sync async; do
			f=$out/$conf-$mode-$op.csv
			bench -o $op -m $mode -d 16 -a -M 65536 -n "$iters" -w 2000 -f csv --output "$f"
			echo "   $conf $mode $op: $f"
			if [[ $mode == async ]]; then
				agent_after "$f"
				echo "   the minimal agent on the same latencies: $out/agent-$(basename "$f")"
			fi
		done
	done
	stop
done

echo "== 2. link bandwidth (64 KiB reads, 64 outstanding)"
start "$here/configs/link-10g.conf"
bench -s 65536 -m async -d 64 -n "$iters" -w 2000 -f csv --output "$out/link-10g-bandwidth.csv"
stop

echo "== 3. floor: none-model sync 64 B read vs cache-line round trip, interleaved"
start "$here/configs/none.conf"
# The ping-pong runs on the programs' CPU too, without sonuma-run, which
# would ask the stopped rmcd.
cpus "$out/rmcd-none.log"
: > "$out/floor.txt"
for round in 1 2 3 4 5; do
	kill -STOP "$pid"   # the RMC's CPU is the ping-pong partner's now
	taskset -c "$app_cpu" "$bin/experiments/sonuma-bench" --pingpong "$rmc_cpu" -n "$iters" -w 2000 \
		>> "$out/floor.txt"
	kill -CONT "$pid"
	bench -s 64 -n "$iters" -w 2000 -f csv --output "$out/floor-read-$round.csv"
done
stop

python3 "$here/fidelity_summary.py" "$out" "$cal"
echo
echo "Reproduce with: experiments/fidelity.sh --iters $iters"

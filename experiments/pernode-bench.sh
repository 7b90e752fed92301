#!/bin/bash
# SPDX-License-Identifier: MIT
#
# pernode-bench.sh: what one RMC per node costs.  Alternates, in one run,
#   A  rmcd 2        (both nodes in one process)
#   B  rmcd 2 0 & rmcd 2 1   (one rmcd per node, as the original platform)
# and in each runs synchronous 64 B reads from node 0 of node 1 under the
# none model (sonuma-bench -m sync), then prints each round's p50, the
# median of the per-round ratios B/A, and the command that reproduces it.
# See --help.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=pernode-bench.sh
build=$root/build
rounds=5 iters=200000 size=64

usage() {
	cat <<EOF2
Usage: experiments/pernode-bench.sh [--rounds N] [--iters N] [--size BYTES]
                                    [--build DIR]
Alternates rmcd 2 and rmcd 2 0 + rmcd 2 1 (N rounds, default $rounds), each
with sonuma-bench -m sync -s SIZE -n ITERS on node 0 against node 1 (none
model), and prints the p50 of each and the median ratio per-node / one
process.  Nothing else should run meanwhile (figures drift with the machine).
EOF2
}

die() { echo "$prog: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--rounds) rounds=${2:?}; shift 2 ;;
	--iters) iters=${2:?}; shift 2 ;;
	--size) size=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die "unknown option \"$1\"" ;;
	esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds: a positive number, got \"$rounds\""
[[ $iters =~ ^[1-9][0-9]*$ ]] || die "--iters: a positive number, got \"$iters\""
[[ $size =~ ^[1-9][0-9]*$ ]] || die "--size: a positive number, got \"$size\""
rmcd=$build/rmcd/rmcd run=$build/experiments/sonuma-run bench=$build/experiments/sonuma-bench
for b in "$rmcd" "$run" "$bench"; do [[ -x $b ]] || die "$b: not built (scripts/build.sh)"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sonuma-pernode.XXXXXX")
pids=()
stop() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap 'stop; rm -rf "$tmp"' EXIT

# wait_up RUNDIR: node 0 reads node 1 (sonuma-bench fails while it cannot).
wait_up() {
	for _ in $(seq 400); do
		SONUMA_RUNDIR=$1 "$run" -n 0 -- "$bench" -t 1 -m sync -s 64 -n 1 -w 0 -f csv \
			>/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "the cluster in $1 did not come up; logs in $tmp"
}

# one MODE ROUND: prints the p50 in ns.
one() {
	local mode=$1 r=$2 dir=$tmp/$1-$2
	mkdir -p "$dir"
	if [[ $mode == A ]]; then
		"$rmcd" -r "$dir/run" -m none 2 >"$dir/rmcd.log" 2>&1 & pids+=($!)
	else
		"$rmcd" -r "$dir/run" -m none 2 1 >"$dir/rmcd1.log" 2>&1 & pids+=($!)
		"$rmcd" -r "$dir/run" -m none 2 0 >"$dir/rmcd0.log" 2>&1 & pids+=($!)
	fi
	wait_up "$dir/run"
	SONUMA_RUNDIR=$dir/run "$run" -n 0 -- "$bench" -m sync -o read -t 1 -s "$size" \
		-n "$iters" -w $((iters / 10)) -f csv --output "$dir/bench.csv" ||
		die "sonuma-bench failed in round $r ($mode); see $dir"
	stop
	awk -F, '!/^#/ && $1 != "size" { print $4; exit }' "$dir/bench.csv"
}

echo "# $prog: sync $size B reads node 0 -> node 1, none model, $iters per run"
echo "round,one_process_p50_ns,per_node_p50_ns,ratio"
ratios=()
for ((r = 1; r <= rounds; r++)); do
	# Alternate which goes first, so that a drift of the machine does
	# not favour one.
	if ((r % 2)); then a=$(one A "$r"); b=$(one B "$r"); else b=$(one B "$r"); a=$(one A "$r"); fi
	ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
	ratios+=("$ratio")
	echo "$r,$a,$b,$ratio"
done
med=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
lo=$(printf '%s\n' "${ratios[@]}" | sort -g | head -1)
hi=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)
echo "# median ratio per-node / one process: $med (range $lo-$hi over $rounds rounds)"
echo "# reproduce: experiments/pernode-bench.sh --rounds $rounds --iters $iters --size $size"

#!/bin/bash
# SPDX-License-Identifier: MIT
#
# instr-count.sh: instructions per request of the RMC's loop and of the
# program's loop, for 64 B asynchronous reads at full queue depth (the
# rate figure of agent-bench.sh), counted with valgrind's callgrind:
#   rmc      rmcd under callgrind (rmcd_rmc_poll_once and all it calls),
#            driven by a native sonuma-bench
#   program  sonuma-bench under callgrind (its run_async loop, the
#            library's inline post and completion code included), against
#            a native rmcd
# An instruction count does not drift with the machine as rates do (see
# the rate's spread in agent-bench.sh), so it tells whether a change made a
# path longer; it says nothing of cache-line transfers.  Paths that depend
# on timing (clock reads, lateness) run differently under valgrind, where
# the RMC is some fifty times slower: compare those with care.  See --help.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=instr-count.sh
build=$root/build model=none ops=200000
usage_line="Usage: experiments/instr-count.sh [--build DIR] [--model none|fixed-1us|CONF] [--ops N]"

usage() {
	cat <<EOF2
$usage_line
Counts the instructions per request of rmcd's RMC loop and of sonuma-bench's
loop (library included) for N 64 B asynchronous reads at full queue depth
(--ops, default $ops) under a model (--model: a name from
experiments/configs, default $model, or a config file), with valgrind's
callgrind; prints both and the command that reproduces them.  Needs
valgrind (scripts/deps.sh installs it).
EOF2
}

# shellcheck source=lib/opts.sh
. "$here/lib/opts.sh"
# shellcheck source=rmcd-lib.sh
. "$here/rmcd-lib.sh"
value_opts=(--build build --model model --ops ops)
parse_value_opts "$@"
in_range "$ops" 1000 100000000 || bad_usage "--ops: 1000 to 1e8, got \"$ops\""
conf=$model
[[ -f $conf ]] || conf=$here/configs/$model.conf
[[ -f $conf ]] || bad_usage "--model: no config \"$model\" (a name from experiments/configs, or a file)"
command -v valgrind >/dev/null || die "valgrind not found: install it (scripts/deps.sh)"
command -v callgrind_annotate >/dev/null || die "callgrind_annotate not found: install valgrind (scripts/deps.sh)"
bench_setup sonuma-instr
real_rmcd=$rmcd

# total FILE: the instructions a callgrind output file counted.
total() {
	callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !n++ { gsub(",", "", $1); print $1 }'
}

bench_args=(-t 1 -m async --bw -d 64 -s 64 -n "$ops" -w 0 -f csv)

# The RMC's loop: rmcd under callgrind, counting only inside
# rmcd_rmc_poll_once; the program native.
cat >"$tmp/rmcd-vg" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$tmp/rmc.out" \\
	--toggle-collect=rmcd_rmc_poll_once "$real_rmcd" "\$@"
EOF
chmod +x "$tmp/rmcd-vg"
rmcd=$tmp/rmcd-vg
start_rmcd "$conf" "$tmp/rmcd-vg.log" 2
SONUMA_RUNDIR=$rundir "$run" -n 0 -- "$bench" "${bench_args[@]}" >"$tmp/bench1.out" 2>&1 ||
	die "sonuma-bench against rmcd under valgrind failed: $(tail -3 "$tmp/bench1.out")"
stop_rmcd
rmc=$(total "$tmp/rmc.out")
[[ $rmc =~ ^[0-9]+$ ]] || die "callgrind counted nothing in rmcd (see $tmp/rmcd-vg.log)"

# The program's loop: sonuma-bench under callgrind (run_async and all it
# calls), rmcd native.
rmcd=$real_rmcd
start_rmcd "$conf" "$tmp/rmcd.log" 2
SONUMA_RUNDIR=$rundir "$run" -n 0 -- valgrind --tool=callgrind \
	--callgrind-out-file="$tmp/prog.out" --toggle-collect=run_async \
	"$bench" "${bench_args[@]}" >"$tmp/bench2.out" 2>&1 ||
	die "sonuma-bench under valgrind failed: $(tail -3 "$tmp/bench2.out")"
stop_rmcd
pg=$(total "$tmp/prog.out")
[[ $pg =~ ^[0-9]+$ ]] || die "callgrind counted nothing in sonuma-bench"

echo "# $(printf '%q ' "$0" --build "$build" --model "$model" --ops "$ops")"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?'), model $model, $ops 64 B async reads, 64 in flight"
awk -v r="$rmc" -v p="$pg" -v n="$ops" 'BEGIN {
	printf "%-8s %14s %12s\n", "loop", "instructions", "per request"
	printf "%-8s %14d %12.1f\n", "rmc", r, r / n
	printf "%-8s %14d %12.1f\n", "program", p, p / n
}'

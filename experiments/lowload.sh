#!/bin/bash
# SPDX-License-Identifier: MIT
#
# lowload.sh: the tail at low load.  Synchronous 64 B reads under fixed 1 us
# of the same bytes each time (--same-buffer, as the agent's row), with a
# pause before each (sonuma-bench --gap, spun or slept), for pauses
# of 10 us to 10 ms, under each RMC idle setting, alternated in one run:
#   pause    rmc.spin_pause = true  (the default)
#   nopause  rmc.spin_pause = false
#   awake    rmc.spin_pause = false, and the RMC spins for 60 s after its
#            last request before it yields (idle_spin_us = 60000000)
#   agent    no rmcd: the minimal polling agent, spinning all the time,
#            giving each read its 1 us due time at once (sonuma-bench
#            --agent --agent-latency 1000): the least any emulator could
#            do on this machine after the same pauses
# Prints p50 and p99 against the target and the late share of every
# (setting, pause, mode), per round, and the medians over the rounds, with
# the command that reproduces it.  See --help.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=lowload.sh
build=$root/build
rounds=3 budget_ms=1500 min_iters=300 max_iters=20000
gaps="10000 100000 1000000 10000000"
settings="pause nopause awake agent"
modes="spin sleep"
usage_line="Usage: experiments/lowload.sh [--rounds N] [--gaps \"NS ...\"] [--settings \"pause nopause awake agent\"] [--modes \"spin sleep\"] [--budget-ms MS] [--build DIR]"

usage() {
	cat <<EOF2
$usage_line
Alternates the RMC idle settings (pause: rmc.spin_pause = true, nopause:
false, awake: false and no yielding for 60 s) and the minimal agent
(agent: no rmcd, the least an emulator could do here) over N rounds (default
$rounds); in each, synchronous 64 B reads under
fixed 1 us with sonuma-bench --gap NS for every pause in --gaps (default
"$gaps" ns), spun and slept (--modes), each for about --budget-ms ms of
pauses (at least $min_iters, at most $max_iters reads).  Prints p50 and p99
against the target and the late share.  Nothing else should run meanwhile.
EOF2
}

# shellcheck source=lib/opts.sh
. "$here/lib/opts.sh"
# shellcheck source=rmcd-lib.sh
. "$here/rmcd-lib.sh"
value_opts=(--rounds rounds --gaps gaps --settings settings --modes modes --budget-ms budget_ms
	--build build)
parse_value_opts "$@"
in_range "$rounds" 1 1000 || bad_usage "--rounds: 1 to 1000, got \"$rounds\""
in_range "$budget_ms" 1 600000 || bad_usage "--budget-ms: 1 to 600000, got \"$budget_ms\""
for g in $gaps; do in_range "$g" 1 10000000000 || bad_usage "--gaps: ns from 1 to 1e10, got \"$g\""; done
for s in $settings; do [[ $s =~ ^(pause|nopause|awake|agent)$ ]] || bad_usage "--settings: pause, nopause, awake or agent, got \"$s\""; done
for m in $modes; do [[ $m == spin || $m == sleep ]] || bad_usage "--modes: spin or sleep, got \"$m\""; done
bench_setup sonuma-lowload
stop() { stop_rmcd; }
# The minimal agent's CPUs: the first two we may use (this program on the
# first, the agent on the second).
mapfile -t cpus < <(first_cpus)

# start SETTING DIR: an rmcd of two nodes under fixed 1 us with that setting.
start() {
	local s=$1 dir=$2
	mkdir -p "$dir"
	cat >"$dir/rmc.conf" <<EOF2
cluster = { nodes = 2; };
rmc = { spin_pause = $([[ $s == pause ]] && echo true || echo false);
        $([[ $s == awake ]] && echo "idle_spin_us = 60000000; idle_nap_us = 60000000;") };
model = { name = "fixed"; latency_ns = 1000.0; };
EOF2
	start_rmcd "$dir/rmc.conf" "$dir/rmcd.log" 2
}

printf '# %s\n' "$(printf '%q ' "$0" --rounds "$rounds" --gaps "$gaps" --settings "$settings" --modes "$modes" --budget-ms "$budget_ms")"
printf '# %s, %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uptime | sed 's/.*load/load/')"
printf '%-6s %-8s %11s %-6s %7s %9s %9s %8s %8s %7s\n' round setting gap_ns mode iters p50 p99 p50err% p99err% late%
for r in $(seq "$rounds"); do
	for s in $settings; do
		dir=$tmp/$r-$s
		if [[ $s == agent ]]; then
			((${#cpus[@]} == 2)) || die "the agent needs two CPUs"
			mkdir -p "$dir"
		else
			start "$s" "$dir"
		fi
		for g in $gaps; do
			n=$((budget_ms * 1000000 / g))
			((n < min_iters)) && n=$min_iters
			((n > max_iters)) && n=$max_iters
			for m in $modes; do
				out=$dir/$g-$m.csv
				extra=()
				[[ $m == sleep ]] && extra=(--gap-sleep)
				if [[ $s == agent ]]; then
					taskset -c "${cpus[0]}" "$bench" --agent "${cpus[1]}" \
						--agent-latency 1000 --same-buffer -s 64 -n "$n" -w 20 \
						--gap "$g" "${extra[@]}" -f csv --output "$out" >/dev/null ||
						die "sonuma-bench --agent failed (gap $g, $m); see $dir"
				else
					SONUMA_RUNDIR=$rundir "$run" -n 0 -- "$bench" -t 1 -m sync -s 64 \
						--same-buffer -n "$n" -w 20 --gap "$g" "${extra[@]}" -f csv --output "$out" ||
						die "sonuma-bench failed ($s, gap $g, $m); see $dir"
				fi
				awk -F, -v r="$r" -v s="$s" -v g="$g" -v m="$m" '
					!/^#/ && $1 ~ /^[0-9]+$/ {
						# The agent never writes a completion late.
						printf "%-6s %-8s %11s %-6s %7d %9.0f %9.0f %+8.1f %+8.1f %7s\n",
						       r, s, g, m, $2, $4, $6, ($4 - $9) / $9 * 100,
						       ($6 - $9) / $9 * 100, s == "agent" ? "-" : sprintf("%.2f", $12)
					}' "$out" | tee -a "$tmp/all.txt"
			done
		done
		[[ $s == agent ]] || stop
	done
done
echo "== medians over the rounds"
printf '%-8s %11s %-6s %9s %9s %8s %8s %7s\n' setting gap_ns mode p50 p99 p50err% p99err% late%
sort -k2,2 -k3,3n -k4,4 "$tmp/all.txt" | awk '
	function med(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function flush() {
		if (!n) return
		printf "%-8s %11s %-6s %9.0f %9.0f %+8.1f %+8.1f %7s\n", key[1], key[2], key[3],
		       med(p50, n), med(p99, n), med(e50, n), med(e99, n),
		       key[1] == "agent" ? "-" : sprintf("%.2f", med(late, n))
		n = 0
	}
	{ k = $2 " " $3 " " $4
	  if (k != prev) { flush(); prev = k; split(k, key, " ") }
	  n++; p50[n] = $6; p99[n] = $7; e50[n] = $8; e99[n] = $9; late[n] = $10 }
	END { flush() }'

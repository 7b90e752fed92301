#!/bin/bash
# SPDX-License-Identifier: MIT
#
# agent-bench.sh: the emulator against the minimal polling agent, alternated
# in one run (sonuma-bench through rmcd, then sonuma-bench --agent, on the
# same CPUs: the program's and the RMC thread's).
#   rate   64 B asynchronous reads, 64 in flight, throughput only (--bw):
#          rmcd under none and under fixed 1 us, against the agent: the
#          ratio emulator / agent (the target is at least 0.5)
#   sync   synchronous reads and writes of 64 B to 64 KiB under none, the
#          data in cache (--same-buffer) and beyond the caches (--span, a
#          new page each time), against the agent's in-place requests of the
#          same size from the same kind of memory: p50 emulator / agent (the
#          target is at most 1.5)
# Beside them, rows marked lib-: the same program and library calls served
# by the agent in rmcd's place (sonuma-bench --agent-library; timed with
# --agent-latency for fixed 1 us), i.e. what the emulator would measure
# with an RMC that costs nothing: how much of the ratio is the queue
# protocol the original's API asks for (a slot marked free and a status
# written back per completion, a stamp per timed post), not the RMC.
# Around every run it takes the round trip of a cache line between the two
# CPUs (rmcd stopped meanwhile), which on some virtual machines flips
# between two states (about 70 and 450 ns here) from one run to the next:
# a pair counts as fast (F) or slow (S) when both its runs began and ended
# in that state, mixed (M) otherwise, and the medians are given per state.
# Prints every round, then the medians of the per-round ratios.  See --help.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=agent-bench.sh
build=$root/build
rounds=3 iters=20000 rate_iters=2000000 parts="rate sync"
sizes=64,256,1024,4096,16384,65536
span=$((256 << 20))
usage_line="Usage: experiments/agent-bench.sh [--rounds N] [--iters N] [--rate-iters N] [--parts \"rate sync\"] [--sizes LIST] [--build DIR]"

usage() {
	cat <<EOF2
$usage_line
Alternates the emulator (through rmcd) and the minimal polling agent
(sonuma-bench --agent) over N rounds (default $rounds): the 64 B asynchronous
rate under none and fixed 1 us (--rate-iters, default $rate_iters), and the
synchronous read and write p50 per size (--sizes, default $sizes; --iters,
default $iters) with the data in cache and beyond the caches.  Prints the
ratios emulator / agent.  Nothing else should run meanwhile.
EOF2
}

# shellcheck source=lib/opts.sh
. "$here/lib/opts.sh"
# shellcheck source=rmcd-lib.sh
. "$here/rmcd-lib.sh"
value_opts=(--rounds rounds --iters iters --rate-iters rate_iters --parts parts --sizes sizes
	--build build)
parse_value_opts "$@"
in_range "$rounds" 1 1000 || bad_usage "--rounds: 1 to 1000, got \"$rounds\""
in_range "$iters" 100 100000000 || bad_usage "--iters: 100 to 1e8, got \"$iters\""
in_range "$rate_iters" 1000 10000000000 || bad_usage "--rate-iters: 1000 to 1e10, got \"$rate_iters\""
[[ $sizes =~ ^[0-9]+(,[0-9]+)*$ ]] || bad_usage "--sizes: a comma-separated list of sizes, got \"$sizes\""
for p in $parts; do [[ $p == rate || $p == sync ]] || bad_usage "--parts: rate and/or sync, got \"$p\""; done
bench_setup sonuma-agentbench

# start MODEL-GROUP: an rmcd of two nodes with a context that holds --span.
start() {
	printf 'cluster = { nodes = 2; context_pages = %d; };\nmodel = %s;\n' \
		$((span / 4096 * 2)) "$1" >"$tmp/rmc.conf"
	start_rmcd "$tmp/rmc.conf" "$tmp/rmcd.log" 2
}
stop() { stop_rmcd; }

# The CPUs rmcd gives node 0's programs and its RMC thread: the agent runs
# on the same pair.
cpus() {
	start '{ name = "none"; }'
	local info
	info=$(SONUMA_RUNDIR=$rundir "$run" -n 0 -- "$bench" -t 1 -s 64 -n 1 -w 0 -f csv | grep '^# tsc_hz')
	app_cpu=$(sed -n 's/.*app_cpus: \([0-9]*\).*/\1/p' <<<"$info")
	rmc_cpu=$(sed -n 's/.*RMC thread 0 (CPU \([0-9]*\)).*/\1/p' "$tmp/rmcd.log" | head -1)
	stop
	[[ -n $app_cpu ]] || die "cannot tell the programs' CPU from sonuma-bench's header: $info"
	if [[ -z $rmc_cpu ]]; then
		rmc_cpu=$(($(nproc) - 1))
		if ((rmc_cpu == app_cpu)); then rmc_cpu=0; fi
	fi
}

# rtt: the p50 round trip of a cache line between the two CPUs, in ns, with
# rmcd (when up) stopped meanwhile; appended to $tmp/rtt.
rtt() {
	[[ -n $rmcd_pid ]] && kill -STOP "$rmcd_pid"
	pingpong_p50 "$bench" "$app_cpu" "$rmc_cpu" 5000 >>"$tmp/rtt"
	[[ -n $rmcd_pid ]] && kill -CONT "$rmcd_pid"
	return 0
}
# emu ARGS...: sonuma-bench on node 0 through rmcd; prints the CSV rows.
emu() {
	rtt
	SONUMA_RUNDIR=$rundir "$run" -n 0 -- "$bench" -t 1 "$@" -f csv --output "$tmp/out.csv" ||
		die "sonuma-bench $* failed"
	rtt
	grep -v '^#' "$tmp/out.csv" | tail -n +2
}
# agent ARGS...: the same through the agent, on the same CPUs.
agent() {
	rtt
	taskset -c "$app_cpu" "$bench" --agent "$rmc_cpu" "$@" -f csv --output "$tmp/out.csv" ||
		die "sonuma-bench --agent $* failed"
	rtt
	grep -v '^#' "$tmp/out.csv" | tail -n +2
}
# rtts: the round trips taken since the last call ("a b c d"), reset.
rtts() {
	tr '\n' ' ' <"$tmp/rtt"
	: >"$tmp/rtt"
}

# row: "ROUND PART WHAT SIZE E A RTT1 RTT2 RTT3 RTT4" (the round trips
# before and after E's run and A's) -> "ROUND PART WHAT SIZE E A E/A STATE",
# STATE F or S when all four were fast or all slow, M otherwise.
row() {
	awk -v least="$(cat "$tmp/least")" '{
		fast = slow = 0
		for (i = 7; i <= 10; i++) { fast += $i <= 1.5 * least; slow += $i > 1.5 * least }
		printf "%s %s %s %s %.3f %.3f %.3f %s\n", $1, $2, $3, $4, $5, $6, $6 ? $5 / $6 : 0,
		       fast == 4 ? "F" : slow == 4 ? "S" : "M" }'
}

cpus
: >"$tmp/rtt"
# The fast state's round trip: the least of a few tries.
for _ in 1 2 3 4 5 6; do rtt; done
sort -n "$tmp/rtt" | head -1 >"$tmp/least"
: >"$tmp/rtt"
echo "# $(printf '%q ' "$0" --rounds "$rounds" --iters "$iters" --rate-iters "$rate_iters" --parts "$parts" --sizes "$sizes")"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uptime | sed 's/.*load/load/'); program on CPU $app_cpu, RMC and agent on CPU $rmc_cpu"
: >"$tmp/all.txt"
for r in $(seq "$rounds"); do
	if [[ " $parts " == *" rate "* ]]; then
		a=$(agent -m async -d 64 -s 64 -n "$rate_iters" | cut -d, -f14)
		ar=$(rtts)
		for m in none fixed-1us; do
			lat=()
			[[ $m == fixed-1us ]] && lat=(--agent-latency 1000)
			l=$(agent --agent-library "${lat[@]}" -m async --bw -d 64 -s 64 -n "$rate_iters" |
				cut -d, -f14)
			echo "$r rate lib-$m 64 $l $a $(rtts) $ar" | row | tee -a "$tmp/all.txt"
			group='{ name = "none"; }'
			[[ $m == fixed-1us ]] && group='{ name = "fixed"; latency_ns = 1000.0; }'
			start "$group"
			e=$(emu -m async --bw -d 64 -s 64 -n "$rate_iters" | cut -d, -f14)
			er=$(rtts)
			stop
			echo "$r rate $m 64 $e $a $er $ar" | row | tee -a "$tmp/all.txt"
		done
	fi
	if [[ " $parts " == *" sync "* ]]; then
		start '{ name = "none"; }'
		for where in cache beyond; do
			for op in read write; do
				if [[ $where == cache ]]; then
					emu -o "$op" -m sync -s "$sizes" -n "$iters" --same-buffer >"$tmp/e"
					er=$(rtts)
					agent -m sync -s "$sizes" -n "$iters" --same-buffer >"$tmp/a"
				else
					emu -o "$op" -m sync -s "$sizes" -n "$iters" --span "$span" >"$tmp/e"
					er=$(rtts)
					agent -m sync -s "$sizes" -n "$iters" >"$tmp/a"
				fi
				ar=$(rtts)
				# $4: the emulator p50; $(18 + 4): the agent p50
				paste -d, "$tmp/e" "$tmp/a" | awk -F, -v r="$r" -v w="$where" -v op="$op" \
					-v st="$er $ar" '{ print r, "sync", op "-" w, $1, $4, $22, st }' | row |
					tee -a "$tmp/all.txt"
				# The library's synchronous reads served by the agent, in
				# cache (its slots cycle over 64 KiB).
				if [[ $where == cache && $op == read ]]; then
					agent --agent-library -m sync -s "$sizes" -n "$iters" >"$tmp/l"
					lr=$(rtts)
					paste -d, "$tmp/l" "$tmp/a" | awk -F, -v r="$r" -v st="$lr $ar" '{
						print r, "sync", "lib-read-cache", $1, $4, $22, st }' | row |
						tee -a "$tmp/all.txt"
				fi
			done
		done
		stop
	fi
done
echo "== medians over $rounds rounds: emulator, agent, emulator / agent, per machine state"
echo "   (rate: Mops, the target is a ratio of at least 0.5; sync: p50 ns, at most 1.5;"
echo "    lib-: the library's calls served by the agent, an RMC that costs nothing;"
echo "    F: both runs on the fast machine (line round trip $(cat "$tmp/least") ns), S: both"
echo "    on the slow one, all: every round)"
awk '{ print; $8 = "all"; print }' "$tmp/all.txt" | sort -k8,8 -k2,2 -k3,3 -k4,4n | awk '
	function med(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function flush(   ok) {
		if (!n) return
		x = med(q, n)
		ok = what ~ /^rate/ ? (x >= 0.5) : (x <= 1.5)
		v = ok ? "ok" : "MISSED"
		if (what ~ / lib-/)
			v = v " (library, RMC free)"
		printf "%-4s %-22s %8s %3d %10.3f %10.3f %7.3f  %s\n", st, what, size, n, med(e, n),
		       med(a, n), x, v
		n = 0
	}
	$8 == "M" { next }
	{ k = $8 " " $2 " " $3 " " $4
	  if (k != prev) { flush(); prev = k; what = $2 " " $3; size = $4; st = $8 }
	  n++; e[n] = $5; a[n] = $6; q[n] = $7 }
	END { flush() }'

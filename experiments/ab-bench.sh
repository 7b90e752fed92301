#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ab-bench.sh: two builds of sonuma side by side, alternated in one run.
# Builds revision A and revision B (git revisions of this checkout, or
# build directories already made) and runs, in each of N rounds, A then B
# (B then A in odd rounds), the figures the design notes quote:
#   sync-none    synchronous 64 B reads, none model: p50 (ns)
#   rate-none    asynchronous 64 B reads at full queue depth (--bw), none: Mops
#   rate-fixed   the same under fixed 1 us: Mops
#   sync-fixed   synchronous 64 B reads under fixed 1 us: p50 error (%)
#   async-link   64 B reads, 16 in flight, under link-10g: p50 (ns) and late (%)
#   async-fixed  the same under fixed 1 us
# (both builds use one calibration, measured by A's sonuma-calibrate)
# and prints each round, then per figure the medians of A and B and the
# median of the per-round ratios B/A.  Before each build's figures it
# takes the round trip of a cache line between the two CPUs (line-rtt):
# this machine's state, which can change by 5x from one second to the
# next; the medians are given again over the rounds where both builds ran
# with the line round trip within 1.5x of the run's least.  See --help.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=ab-bench.sh
rounds=5 iters=100000 a='' b=''
usage_line="Usage: experiments/ab-bench.sh --a REV|BUILD-DIR --b REV|BUILD-DIR [--rounds N] [--iters N]"

usage() {
	cat <<EOF2
$usage_line
Builds two revisions (or takes two build directories) and alternates them
over N rounds (default $rounds), each round running sync-none, rate-none,
rate-fixed, sync-fixed and async-link with --iters operations (default
$iters); prints every figure, the medians and the median ratio B/A.
Nothing else should run meanwhile: the figures drift with the machine.
EOF2
}

# shellcheck source=lib/opts.sh
. "$here/lib/opts.sh"
# shellcheck source=rmcd-lib.sh
. "$here/rmcd-lib.sh"
value_opts=(--a a --b b --rounds rounds --iters iters)
parse_value_opts "$@"
[[ -n $a && -n $b ]] || bad_usage "--a and --b are needed"
in_range "$rounds" 1 1000 || bad_usage "--rounds: 1 to 1000, got \"$rounds\""
in_range "$iters" 100 100000000 || bad_usage "--iters: 100 to 1e8, got \"$iters\""

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sonuma-ab.XXXXXX")
rmcd_pid="" rmcd_log="" rundir="" rundir_tag=sonuma-ab
cleanup() {
	end_rmcd
	for w in "$tmp"/src-*; do
		[[ -d $w ]] && git -C "$root" worktree remove --force "$w" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
exit_traps cleanup

# build_of NAME REV|DIR: prints the build directory of a revision (built
# here, in a worktree of its own) or of a build directory given.
build_of() {
	local name=$1 what=$2
	if [[ -x $what/rmcd/rmcd ]]; then
		(cd "$what" && pwd)
		return
	fi
	local rev
	rev=$(git -C "$root" rev-parse --verify --quiet "$what^{commit}") ||
		die "--$name: \"$what\" is neither a build directory nor a revision"
	git -C "$root" worktree add --detach -q "$tmp/src-$name" "$rev" ||
		die "--$name: cannot check out $rev"
	(cd "$tmp/src-$name" && meson setup -Dtests=false build >/dev/null && ninja -C build >/dev/null) ||
		die "--$name: $rev does not build"
	echo "$tmp/src-$name/build"
}

A=$(build_of a "$a")
B=$(build_of b "$b")
cfg=$root/experiments/configs
# One calibration for both, in A's format (a newer rmcd reads older files;
# an older one refuses sections it does not know).
"$A/calibrate/sonuma-calibrate" -o "$tmp/calibration.cfg" >"$tmp/calibrate.log" 2>&1 ||
	die "A's sonuma-calibrate failed: $(tail -3 "$tmp/calibrate.log")"

# one BUILD CONF ARGS...: runs sonuma-bench on node 0 of a fresh rmcd of
# BUILD under CONF; prints the CSV row.
one() {
	local bd=$1 conf=$2
	shift 2
	rmcd=$bd/rmcd/rmcd
	start_rmcd "$cfg/$conf.conf" "$tmp/rmcd.log" 2 -C "$tmp/calibration.cfg"
	SONUMA_RUNDIR=$rundir "$bd/experiments/sonuma-run" -n 0 -- "$bd/experiments/sonuma-bench" \
		-t 1 -s 64 "$@" -f csv --output "$tmp/out.csv" ||
		die "sonuma-bench of $bd failed ($conf $*)"
	stop_rmcd
	grep -v '^#' "$tmp/out.csv" | sed -n 2p
}

# line_rtt BUILD: p50 round trip of a cache line between the first two
# CPUs we may use, in ns.
line_rtt() {
	local cpus
	mapfile -t cpus < <(first_cpus)
	((${#cpus[@]} == 2)) || { echo 0; return; }
	pingpong_p50 "$1/experiments/sonuma-bench" "${cpus[0]}" "${cpus[1]}" 20000
}

# figures BUILD: the figures of one build, one per line "name value".
figures() {
	local bd=$1 r w=$((iters / 10))
	echo "line-rtt_ns $(line_rtt "$bd")"
	r=$(one "$bd" none -m sync -n "$iters" -w "$w")
	echo "sync-none_p50_ns $(cut -d, -f4 <<<"$r")"
	r=$(one "$bd" none -m async --bw -n "$((iters * 10))" -w "$w")
	echo "rate-none_Mops $(cut -d, -f14 <<<"$r")"
	r=$(one "$bd" fixed-1us -m async --bw -n "$((iters * 10))" -w "$w")
	echo "rate-fixed_Mops $(cut -d, -f14 <<<"$r")"
	r=$(one "$bd" fixed-1us -m sync -n "$iters" -w "$w")
	echo "sync-fixed_p50err_pct $(cut -d, -f10 <<<"$r")"
	r=$(one "$bd" link-10g -m async -d 16 -n "$iters" -w "$w")
	echo "async-link_p50_ns $(cut -d, -f4 <<<"$r")"
	echo "async-link_late_pct $(cut -d, -f12 <<<"$r")"
	r=$(one "$bd" fixed-1us -m async -d 16 -n "$iters" -w "$w")
	echo "async-fixed_p50_ns $(cut -d, -f4 <<<"$r")"
	echo "async-fixed_late_pct $(cut -d, -f12 <<<"$r")"
}

echo "# $(printf '%q ' "$0" --a "$a" --b "$b" --rounds "$rounds" --iters "$iters")"
echo "# A: $A"
echo "# B: $B"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uptime | sed 's/.*load/load/')"
for r in $(seq "$rounds"); do
	order="A B"
	((r % 2 == 0)) && order="B A"
	for side in $order; do
		bd=$A
		[[ $side == B ]] && bd=$B
		figures "$bd" | sed "s/^/$r $side /" | tee -a "$tmp/all.txt"
	done
done
# medians FAST: the table over every round (0) or over the fast ones (1).
medians() {
	awk -v fast="$1" '
	function med(v, n,   i, j, t, a) {
		for (i = 1; i <= n; i++) a[i] = v[i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ val[$3, $1, $2] = $4; names[$3] = 1; rounds[$1] = 1
	  if ($3 == "line-rtt_ns" && $4 > 0 && (least == "" || $4 < least)) least = $4 }
	END {
		nfast = 0
		for (r in rounds) {
			ok[r] = !fast || (least != "" && val["line-rtt_ns", r, "A"] <= 1.5 * least &&
					  val["line-rtt_ns", r, "B"] <= 1.5 * least)
			nfast += ok[r]
		}
		if (fast) printf "(%d of %d rounds; least line round trip %s ns)\n", nfast, length(rounds), least
		if (!nfast) exit
		for (f in names) {
			na = nb = nr = 0
			for (r in rounds) {
				if (!ok[r]) continue
				a = val[f, r, "A"]; b = val[f, r, "B"]
				va[++na] = a; vb[++nb] = b
				if (a != 0) vr[++nr] = b / a
			}
			printf "%-24s %12.3f %12.3f %8s\n", f, med(va, na), med(vb, nb),
			       nr ? sprintf("%.3f", med(vr, nr)) : "-"
		}
	}' "$tmp/all.txt" | LC_ALL=C sort
}
echo "== medians over $rounds rounds, and the median of the per-round ratios B/A"
printf '%-24s %12s %12s %8s\n' figure A B B/A
medians 0
echo "== the same over the rounds where both builds met a fast machine (line round trip <= 1.5x the least)"
medians 1

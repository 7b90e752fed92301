#!/bin/bash
# SPDX-License-Identifier: MIT
#
# soak.sh: a soak of the whole emulator.  Starts rmcd with N nodes (small
# contexts, from a temporary rmc.conf) in a private run directory, runs one
# sonuma-soak per node through sonuma-run, sums their counters, and stops
# rmcd with SIGTERM, which must exit 0.  With --chaos, misbehaving
# applications (sonuma-soak --rogue) come and go on random nodes meanwhile,
# most of them SIGKILLed mid-burst; the soak must not notice.
# See --help.
set -uo pipefail

# shellcheck source=experiments/lib/opts.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/opts.sh"

usage() {
	cat <<EOF
Usage: experiments/soak.sh [options]

Runs sonuma-soak on every node of a fresh rmcd and prints one total line:
  TOTAL nodes=N ops=... ops_s=... errors=0 corrupted=0 unexpected=0 lost=0 ...
Exit status 0 when every soak process passed, rmcd kept serving and exited
0 on SIGTERM; 1 on any failure; 2 on bad usage.

Options:
  -N, --nodes N          emulated nodes (default 4)
  -t, --time SECS        run each soak process this long (default 10)
  -n, --ops N            total requests over all nodes instead (split evenly;
                         with --time too, whichever comes first)
  -M, --max-size BYTES   largest request (default 65536); also rmcd's
                         max_transfer
  -w, --window N         requests in flight per node (default 16)
  -S, --seed N           seed (default: from the clock); printed, so a run
                         can be repeated
      --read-pct P       share of reads (default 50)
      --chaos            rogue applications on random nodes meanwhile
      --chaos-period MS  longest life of a rogue before its SIGKILL (default 300)
      --inject-corruption
                         checks the checker: flips bits in node 0's context
                         meanwhile (sonuma-soak --corrupt) and passes only if
                         the soak counts corrupted blocks (and nothing else)
      --context-pages N  context of each node, in 4 KiB pages (default 1024)
      --model NAME       rmcd's timing model (default none)
      --model-params S   settings of the model group, verbatim, e.g.
                         'rmc_ns = 500; hop_ns = 50; bandwidth_gbps = 10;'
      --timeout SECS     limit for each soak process (default: time + 120, or
                         900 with --ops alone)
      --build DIR        build tree with rmcd, sonuma-run and sonuma-soak
                         (default $root/build)
      --rmcd PATH, --sonuma-run PATH, --soak PATH
                         single programs (override --build; so do
                         \$SONUMA_RMCD, \$SONUMA_RUN, \$SONUMA_SOAK)
      --keep             keep the temporary directory (logs, rmc.conf)
  -h, --help             this text
EOF
}

usage_line='Usage: experiments/soak.sh [options]  (see --help)'

nodes=4 secs="" ops="" max_size=65536 window=16 seed="" read_pct=50 chaos=0
chaos_period=300 inject=0 context_pages=1024 model=none model_params="" timeout_s="" keep=0
build=${SONUMA_BUILD:-$root/build}
rmcd=${SONUMA_RMCD:-} run=${SONUMA_RUN:-} soak=${SONUMA_SOAK:-}

while [[ $# -gt 0 ]]; do
	case $1 in
	-N | --nodes) need_arg "$@"; nodes=$2; shift 2 ;;
	-t | --time) need_arg "$@"; secs=$2; shift 2 ;;
	-n | --ops) need_arg "$@"; ops=$2; shift 2 ;;
	-M | --max-size) need_arg "$@"; max_size=$2; shift 2 ;;
	-w | --window) need_arg "$@"; window=$2; shift 2 ;;
	-S | --seed) need_arg "$@"; seed=$2; shift 2 ;;
	--read-pct) need_arg "$@"; read_pct=$2; shift 2 ;;
	--chaos) chaos=1; shift ;;
	--chaos-period) need_arg "$@"; chaos_period=$2; shift 2 ;;
	--inject-corruption) inject=1; shift ;;
	--context-pages) need_arg "$@"; context_pages=$2; shift 2 ;;
	--model) need_arg "$@"; model=$2; shift 2 ;;
	--model-params) need_arg "$@"; model_params=$2; shift 2 ;;
	--timeout) need_arg "$@"; timeout_s=$2; shift 2 ;;
	--build) need_arg "$@"; build=$2; shift 2 ;;
	--rmcd) need_arg "$@"; rmcd=$2; shift 2 ;;
	--sonuma-run) need_arg "$@"; run=$2; shift 2 ;;
	--soak) need_arg "$@"; soak=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) bad_usage "unknown argument \"$1\"" ;;
	esac
done

is_uint "$nodes" && ((nodes >= 1 && nodes <= 64)) || bad_usage "--nodes: 1 to 64, got \"$nodes\""
[[ -z $secs ]] || is_num "$secs" || bad_usage "--time: a number of seconds, got \"$secs\""
[[ -z $ops ]] || { is_uint "$ops" && ((ops >= 1)); } || bad_usage "--ops: a positive count, got \"$ops\""
is_uint "$max_size" && ((max_size >= 64)) || bad_usage "--max-size: at least 64, got \"$max_size\""
is_uint "$window" && ((window >= 1 && window <= 128)) || bad_usage "--window: 1 to 128, got \"$window\""
[[ -z $seed ]] || is_uint "$seed" || bad_usage "--seed: a number, got \"$seed\""
is_uint "$read_pct" && ((read_pct <= 100)) || bad_usage "--read-pct: 0 to 100, got \"$read_pct\""
is_uint "$chaos_period" && ((chaos_period >= 10)) || bad_usage "--chaos-period: at least 10 ms"
is_uint "$context_pages" && ((context_pages >= 1)) || bad_usage "--context-pages: a positive count"
[[ -z $timeout_s ]] || is_uint "$timeout_s" || bad_usage "--timeout: whole seconds, got \"$timeout_s\""
((max_size <= context_pages * 4096)) ||
	bad_usage "--max-size $max_size is larger than the context ($((context_pages * 4096)) B)"

[[ -z $secs && -z $ops ]] && secs=10
if [[ -z $timeout_s ]]; then
	if [[ -n $secs ]]; then
		timeout_s=$(awk -v s="$secs" 'BEGIN { printf "%d", s + 120 }')
	else
		timeout_s=900
	fi
fi
[[ -n $seed ]] || seed=$(( ($(date +%s%N) / 1000) % 1000000007 ))

pick() { # pick VAR_VALUE BUILD_PATH NAME
	if [[ -n $1 ]]; then
		printf '%s' "$1"
	elif [[ -x $build/$2 ]]; then
		printf '%s' "$build/$2"
	else
		command -v "$3" || true
	fi
}
rmcd=$(pick "$rmcd" rmcd/rmcd rmcd)
run=$(pick "$run" experiments/sonuma-run sonuma-run)
soak=$(pick "$soak" tests/soak/sonuma-soak sonuma-soak)
[[ -n $rmcd && -x $rmcd ]] || die "rmcd not found (build it, or give --rmcd / --build)"
[[ -n $run && -x $run ]] || die "sonuma-run not found (give --sonuma-run / --build)"
[[ -n $soak && -x $soak ]] || die "sonuma-soak not found (give --soak / --build)"

tmp=$(mktemp -d /tmp/sonuma-soak-XXXXXX) || die "mktemp failed"
rundir=$tmp/run
rmcd_pid="" chaos_pid="" corrupt_pid="" soak_pids=()
failures=0

# kill_now, term_rmcd
# shellcheck source=experiments/rmcd-lib.sh
. "$here/rmcd-lib.sh"

# Never leaves rmcd, a soak process or a rogue behind.
cleanup() {
	local p
	trap - EXIT INT TERM
	[[ -n $chaos_pid ]] && kill -TERM "$chaos_pid" 2>/dev/null
	[[ -n $corrupt_pid ]] && kill -KILL "$corrupt_pid" 2>/dev/null
	# timeout passes TERM on to the soak process it runs.
	for p in "${soak_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	if [[ -n $chaos_pid ]]; then
		wait "$chaos_pid" 2>/dev/null
	fi
	kill_now "$rmcd_pid"
	if ((keep)); then
		echo "$prog: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

cat >"$tmp/rmc.conf" <<EOF
# written by soak.sh
cluster = {
  nodes = $nodes;
  context_pages = $context_pages;
  queue_depth = 128;
  max_transfer = $max_size;
  lock_memory = false;
};
model = {
  name = "$model";
  $model_params
};
EOF

echo "$prog: rmcd -c $tmp/rmc.conf -r $rundir ($nodes nodes, $context_pages pages, model $model)"
"$rmcd" -c "$tmp/rmc.conf" -r "$rundir" >"$tmp/rmcd.log" 2>&1 &
rmcd_pid=$!

# Ready when every node answers (sonuma-run asks its node's rmcd).
ready=0
for _ in $(seq 1 600); do
	ok=1
	for ((i = 0; i < nodes; i++)); do
		"$run" -r "$rundir" -n "$i" --no-pin -- /bin/true 2>/dev/null || { ok=0; break; }
	done
	if ((ok)); then
		ready=1
		break
	fi
	kill -0 "$rmcd_pid" 2>/dev/null || break
	sleep 0.05
done
if ((!ready)); then
	echo "FAIL: rmcd did not come up; its log:" >&2
	cat "$tmp/rmcd.log" >&2
	exit 1
fi

# Chaos: rogues on random nodes, started and SIGKILLed until told to stop.
# One in eight is left to finish a short run and must then exit 0.  Each
# round's outcome goes to $tmp/chaos.log, one word per line.
chaos_loop() {
	local stop=0 round=0 node life pid rc bursts
	trap 'stop=1' TERM
	RANDOM=$((seed % 32768))
	while ((!stop)); do
		round=$((round + 1))
		node=$((RANDOM % nodes))
		if ((RANDOM % 8 == 0)); then
			bursts=$((1 + RANDOM % 200))
			timeout -k 2 30 "$run" -r "$rundir" -n "$node" -- \
				"$soak" --rogue -n "$bursts" -S $((seed + round)) \
				>>"$tmp/rogue.out" 2>>"$tmp/rogue.err"
			rc=$?
			if ((rc == 0)); then
				echo finished >>"$tmp/chaos.log"
			else
				echo "failed rc=$rc node=$node round=$round" >>"$tmp/chaos.log"
			fi
			continue
		fi
		"$run" -r "$rundir" -n "$node" -- "$soak" --rogue -S $((seed + round)) \
			>/dev/null 2>>"$tmp/rogue.err" &
		pid=$!
		life=$((10 + RANDOM % chaos_period))
		sleep "$(awk -v ms="$life" 'BEGIN { printf "%.3f", ms / 1000 }')"
		# (kill succeeds on a zombie too: the status tells who ended it.)
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=$?
		# Our own TERM (the signal to stop) makes wait return 128 + 15
		# before the rogue's status is in: wait for that.  A rogue that
		# really ended by SIGTERM was reaped then, and this wait says 127.
		if ((stop && rc == 128 + 15)); then
			wait "$pid" 2>/dev/null
			rc=$?
		fi
		if ((rc == 128 + 9)); then
			echo killed >>"$tmp/chaos.log"
		else
			echo "failed rc=$rc node=$node round=$round (ended before its SIGKILL)" \
				>>"$tmp/chaos.log"
		fi
		kill -0 "$rmcd_pid" 2>/dev/null || { echo "rmcd-gone" >>"$tmp/chaos.log"; break; }
	done
}

soak_args=(-M "$max_size" -w "$window" -S "$seed" -r "$read_pct")
[[ -n $secs ]] && soak_args+=(-t "$secs")
if [[ -n $ops ]]; then
	per=$(((ops + nodes - 1) / nodes))
	soak_args+=(-n "$per")
fi

echo "$prog: $nodes x sonuma-soak ${soak_args[*]}$( ((chaos)) && echo ' with chaos')"
start=$(date +%s.%N)
for ((i = 0; i < nodes; i++)); do
	timeout -k 5 "$timeout_s" "$run" -r "$rundir" -n "$i" -- "$soak" "${soak_args[@]}" \
		>"$tmp/soak.$i.out" 2>"$tmp/soak.$i.err" &
	soak_pids+=($!)
done
if ((chaos)); then
	chaos_loop &
	chaos_pid=$!
fi
if ((inject)); then
	"$run" -r "$rundir" -n 0 -- "$soak" --corrupt -S "$seed" >"$tmp/corrupt.out" 2>&1 &
	corrupt_pid=$!
fi

for ((i = 0; i < nodes; i++)); do
	wait "${soak_pids[$i]}"
	rc=$?
	# With corruption injected, status 1 (a failed check) is the point.
	((rc == 0 || (inject && rc == 1))) ||
		fail "sonuma-soak on node $i exited with status $rc$( ((rc == 124)) && echo ' (timed out)')"
done
if [[ -n $corrupt_pid ]]; then
	kill -KILL "$corrupt_pid" 2>/dev/null
	wait "$corrupt_pid" 2>/dev/null
	corrupt_pid=""
fi
end=$(date +%s.%N)
soak_pids=()
if [[ -n $chaos_pid ]]; then
	kill -TERM "$chaos_pid" 2>/dev/null
	wait "$chaos_pid" 2>/dev/null
	chaos_pid=""
fi

for ((i = 0; i < nodes; i++)); do
	cat "$tmp/soak.$i.out"
	if [[ -s $tmp/soak.$i.err ]]; then
		echo "--- node $i stderr:"
		head -n 20 "$tmp/soak.$i.err"
	fi
done

# The total: sums of the per-node counters, rate over the wall time.
lines=$(cat "$tmp"/soak.*.out | grep -c '^soak ')
((lines == nodes)) || fail "$lines summary line(s) from $nodes soak processes"
total=$(cat "$tmp"/soak.*.out | awk -v nodes="$nodes" -v start="$start" -v end="$end" '
	/^soak / {
		for (i = 2; i <= NF; i++) {
			split($i, kv, "=")
			v[kv[1]] += kv[2]
		}
	}
	END {
		wall = end - start
		printf "TOTAL nodes=%d ops=%.0f reads=%.0f writes=%.0f verified=%.0f bytes=%.0f errors=%.0f corrupted=%.0f unexpected=%.0f lost=%.0f secs=%.2f ops_s=%.0f MBps=%.1f\n",
			nodes, v["ops"], v["reads"], v["writes"], v["verified"], v["bytes"], v["errors"],
			v["corrupted"], v["unexpected"], v["lost"], wall, v["ops"] / wall,
			v["bytes"] / wall / 1e6
	}')
for k in errors corrupted unexpected lost; do
	val=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$total")
	if ((inject)) && [[ $k == corrupted ]]; then
		if [[ $val =~ ^[1-9] ]]; then
			echo "SELF-CHECK bits flipped in node 0's context: $val corrupted block(s) detected"
		else
			fail "bits were flipped in node 0's context but no corrupted block was detected"
		fi
		continue
	fi
	[[ $val == 0 ]] || fail "$k=$val over all nodes"
done

if ((chaos)); then
	killed=$(grep -c '^killed' "$tmp/chaos.log" 2>/dev/null)
	finished=$(grep -c '^finished' "$tmp/chaos.log" 2>/dev/null)
	bad=$(grep -c '^failed\|^rmcd-gone' "$tmp/chaos.log" 2>/dev/null)
	posted=$(awk '/^rogue /{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "posted") s += kv[2] } } END { print s + 0 }' \
		"$tmp/rogue.out" 2>/dev/null || echo 0)
	echo "CHAOS rogues_killed=${killed:-0} rogues_finished=${finished:-0} rogues_failed=${bad:-0} finished_rogue_requests=$posted"
	if ((${bad:-0} > 0)); then
		fail "$bad rogue round(s) went wrong:"
		grep '^failed\|^rmcd-gone' "$tmp/chaos.log" | head -n 10 >&2
		head -n 20 "$tmp/rogue.err" >&2
	fi
	((${killed:-0} + ${finished:-0} > 0)) || fail "no rogue ran"
fi

# rmcd must still serve: a fresh application attaches to every node.
for ((i = 0; i < nodes; i++)); do
	"$run" -r "$rundir" -n "$i" --no-pin -- /bin/true 2>/dev/null ||
		fail "node $i no longer answers after the soak"
done

term_rmcd
grep -E 'RMC thread .* served|error|ERROR|Sanitizer|runtime error' "$tmp/rmcd.log"
# Anything rmcd warned about during the run (the missing calibration aside).
grep -i 'warning' "$tmp/rmcd.log" | grep -v 'no calibration file' | head -n 10
if grep -qE 'Sanitizer|runtime error' "$tmp/rmcd.log"; then
	fail "rmcd's log has a sanitizer report (--keep to read it all)"
fi
echo "$total"
if ((failures)); then
	echo "$prog: FAILED ($failures failure(s)); seed $seed" >&2
	exit 1
fi
echo "$prog: passed; seed $seed"

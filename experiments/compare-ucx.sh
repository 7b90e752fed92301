#!/bin/bash
# SPDX-License-Identifier: MIT
#
# compare-ucx.sh: UCX's own benchmark (ucx_perftest, one-sided get/put over
# shared memory) beside sonuma-bench on the none model, for the same sizes,
# on the same two cores: the physical floor next to what the emulator does.
# sonuma-bench runs with --same-buffer, the same working set as ucx_perftest
# (one message per side): its default window of slots (64 KiB or more per
# side) would leave the cache at large sizes, and the comparison would then
# measure the cache more than the emulator.
# See --help.  Needs ucx_perftest (Debian package ucx-utils).
set -euo pipefail

# shellcheck source=experiments/lib/opts.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/opts.sh"

usage() {
	cat <<EOF
Usage: experiments/compare-ucx.sh [options]

Runs ucx_perftest over shared memory for each size, the server on CPU 1 and
the client on CPU 0:
  ucp_put_lat        ping-pong: twice its median is one core-to-core round
                     trip, the floor of a software RMC (one per request)
  ucp_get -O 1       one-sided get latency, one at a time
  ucp_get -O N       get bandwidth with N in flight
  ucp_put_bw -O N    put bandwidth with N in flight
then sonuma-bench --same-buffer on the none model (experiments/sweep.sh
--configs none: rmcd's RMC thread on CPU 1, the benchmark on CPU 0), the
same working set as ucx_perftest: one message per side, and writes
  OUT/<timestamp>/ucx/ucx.csv        UCX figures per test and size
  OUT/<timestamp>/ucx/compare.csv    both, side by side, per size
  OUT/<timestamp>/ucx/none/...       sonuma-bench's CSV/JSON, rmcd's log
  OUT/<timestamp>/plots/ucx-compare.{png,svg}
and prints the ratio  sync 64 B read (none) / (2 x ucp_put_lat 64 B).

Options:
  --max-size BYTES    powers of two from 64 B up to it (default 65536)
  --sizes LIST        explicit sizes instead, e.g. 64,4096,65536
  --iters N           measured operations per size, both tools (default 10000)
  --warmup N          warm-up operations per size (default 1000)
  --outstanding N     requests in flight for bandwidth (default 16)
  --out DIR           results root (default $root/results)
  --run-dir DIR       write exactly into DIR (then DIR/ucx/...)
  --port N            TCP port of the ucx_perftest pair (default: a free one)
  --tls LIST          UCX_TLS (default posix,cma,self: shared memory)
  --rtt-reps N        ucp_put_lat runs per size, the median is used: it
                      swings between runs on a busy machine (default 3)
  --quick             sizes 64,4096,65536, 2000 iterations, 200 warm-up
  --calibration FILE, --no-calibrate, --build DIR
                      passed to experiments/sweep.sh
  --timeout SECS      limit per ucx_perftest or sonuma-bench run (default 120)
  --no-plots          do not draw ucx-compare
  -h, --help          this text
EOF
}

max_size=65536 sizes_opt="" iters="" warmup="" outstanding=16 out_root=$root/results
run_dir="" port="" tls=posix,cma,self quick=0 timeout_s=120 plots=1 sweep_args=() rtt_reps=3
value_opts=(--max-size max_size --sizes sizes_opt --iters iters --warmup warmup
	--outstanding outstanding --out out_root --run-dir run_dir --port port --tls tls
	--rtt-reps rtt_reps)
while [[ $# -gt 0 ]]; do
	take_value "$@" && { shift 2; continue; }
	case $1 in
	--quick) quick=1; shift ;;
	--calibration | --build) need_arg "$@"; sweep_args+=("$1" "$2"); shift 2 ;;
	--no-calibrate) sweep_args+=("$1"); shift ;;
	--timeout) need_arg "$@"; timeout_s=$2; shift 2 ;;
	--no-plots) plots=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) bad_usage "unknown argument \"$1\"" ;;
	esac
done
if ((quick)); then
	: "${iters:=2000}" "${warmup:=200}"
	[[ -z $sizes_opt ]] && sizes_opt=64,4096,65536
fi
: "${iters:=10000}" "${warmup:=1000}"
in_range "$max_size" 64 1073741824 ||
	bad_usage "--max-size: 64 to 1073741824 bytes, not \"$max_size\""
in_range "$iters" 1 100000000 || bad_usage "--iters: a positive count, not \"$iters\""
is_uint "$warmup" || bad_usage "--warmup: a count, not \"$warmup\""
in_range "$outstanding" 1 128 ||
	bad_usage "--outstanding: 1 to 128, not \"$outstanding\""
in_range "$timeout_s" 1 1000000 || bad_usage "--timeout: seconds, not \"$timeout_s\""
in_range "$rtt_reps" 1 100 ||
	bad_usage "--rtt-reps: 1 to 100, not \"$rtt_reps\""
[[ -z $port ]] || in_range "$port" 1024 65535 ||
	bad_usage "--port: 1024 to 65535, not \"$port\""
sizes_of "$sizes_opt" "$max_size"

command -v ucx_perftest >/dev/null ||
	die "ucx_perftest is not installed: apt-get install -y --no-install-recommends ucx-utils"
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
command -v python3 >/dev/null || die "python3 is needed"
ncpu=$(nproc)
((ncpu >= 2)) || die "needs two CPUs (0 and 1); this machine has $ncpu"

# ---- output ---------------------------------------------------------------
out=$(run_dir_of "$run_dir" "$out_root") || exit 1
udir=$out/ucx
mkdir -p "$udir"

# ---- cleanup: never leave a ucx_perftest server behind ---------------------
server_pid=""
cleanup() {
	local rc=$?
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		sleep 0.2
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "$prog: interrupted" >&2; exit 130' INT
trap 'echo "$prog: terminated" >&2; exit 143' TERM

# listening PORT: whether a TCP socket listens on PORT (from /proc, so that
# probing never connects to the server, which would take us for its client).
listening() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

export UCX_TLS=$tls
ucx_version=$(ucx_info -v 2>/dev/null |
	sed -n 's/.*UCT version=\([^ ]*\).*/\1/p;s/.*Library version: *//p;s/^# Version *//p' | head -n1 || true)
{
	echo "# tool: ucx_perftest ${ucx_version:-?}"
	echo "# UCX_TLS: $tls"
	echo "# placement: server on CPU 1, client on CPU 0"
	echo "# iters: $iters; warmup: $warmup"
	echo "# ucp_put_lat runs per size: $rtt_reps (the median is used)"
	echo "# outstanding: $outstanding"
	echo "# sonuma-bench: --same-buffer (same working set as ucx_perftest: one message per side)"
	echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$udir/ucx_raw.txt"
: >"$udir/ucx_perftest.log"

# ucx_run TEST SIZE OUTSTANDING LABEL: one server/client pair; appends the
# client's Final: line to ucx_raw.txt.
ucx_run() {
	local test=$1 size=$2 o=$3 label=$4 p log cl rc=0 final
	p=${port:-$(free_port)}
	log=$udir/.client.log
	taskset -c 1 timeout -k 2 "$timeout_s" ucx_perftest -p "$p" >"$udir/.server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		listening "$p" && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.05
	done
	if ! listening "$p"; then
		cat "$udir/.server.log" >&2
		die "ucx_perftest server did not listen on port $p (busy? try --port)"
	fi
	cl=(ucx_perftest 127.0.0.1 -p "$p" -t "$test" -s "$size" -n "$iters" -w "$warmup")
	[[ $o != - ]] && cl+=(-O "$o")
	taskset -c 0 timeout -k 2 "$timeout_s" "${cl[@]}" >"$log" 2>&1 || rc=$?
	{ echo "## $label: UCX_TLS=$tls taskset -c 0 ${cl[*]}"; cat "$log"; } >>"$udir/ucx_perftest.log"
	# The server ends after one test; make sure it is gone before the next.
	for _ in $(seq 40); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
	kill -TERM "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
	final=$(grep -m1 '^Final:' "$log" || true)
	if ((rc != 0)) || [[ -z $final ]]; then
		tail -n 20 "$log" >&2
		die "ucx_perftest $test -s $size failed (status $rc); see $udir/ucx_perftest.log"
	fi
	printf '%s\t%s\t%s\t%s\n' "$label" "$size" "$o" "$final" >>"$udir/ucx_raw.txt"
	rm -f "$log" "$udir/.server.log"
}

t0=$SECONDS
echo "$prog: UCX over $tls, sizes $size_list, $iters iterations (+$warmup warm-up)"
echo "$prog: results in $udir"
k=0 total=$((${#sizes[@]} * (3 + rtt_reps)))
for s in "${sizes[@]}"; do
	tests=()
	for ((r = 0; r < rtt_reps; r++)); do tests+=("ucp_put_lat - ucp_put_lat"); done
	tests+=("ucp_get 1 ucp_get_lat" "ucp_get $outstanding ucp_get" "ucp_put_bw $outstanding ucp_put_bw")
	for t in "${tests[@]}"; do
		read -r test o label <<<"$t"
		k=$((k + 1))
		printf '[%d/%d] ucx_perftest %s%s -s %d (elapsed %d:%02d)\n' "$k" "$total" "$test" \
			"$([[ $o != - ]] && echo " -O $o")" "$s" $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60))
		ucx_run "$test" "$s" "$o" "$label"
	done
done

echo "$prog: sonuma-bench --same-buffer on the none model (same working set as ucx_perftest:" \
	"one message per side)"
"$here/sweep.sh" --configs none --run-dir "$udir" --sizes "$size_list" --iters "$iters" \
	--warmup "$warmup" --outstanding "$outstanding" --timeout "$timeout_s" --no-plots \
	--no-summary --bench-args --same-buffer "${sweep_args[@]}" ||
	die "the sonuma side (sweep.sh) failed"

echo
python3 "$here/summary.py" ucx "$udir" | tee "$udir/compare.txt" ||
	die "cannot compare (summary.py ucx $udir)"
if ((plots)); then
	"$root/plots/plot.sh" "$out" || die "plots/plot.sh failed (the results are in $udir)"
	echo "$prog: chart: $out/plots/ucx-compare.png (and .svg)"
fi

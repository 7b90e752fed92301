#!/bin/bash
# SPDX-License-Identifier: MIT
#
# compare-ucx-hosts.sh: the ucx fabric between two "hosts" (network
# namespaces joined by a veth pair, 10.213.1.1 and 10.213.1.2) next to UCX's
# own benchmark over the same transport and addresses, and the fidelity of a
# timing model over it:
#   sync 64 B reads (sonuma-bench, model none, median)
#                      vs  2 x ucp_put_lat 64 B (else ucp_am_lat, tag_lat)
#   async bandwidth 64 KiB - 1 MiB (sonuma-bench --bw, reads and writes)
#                      vs  ucp_get / ucp_put_bw -O N, alternated over rounds
#                      (ucx_perftest's own figure moves by 2x between runs)
#   fidelity: sonuma-calibrate --fabric measures the fabric's floor, then
#   sync 64 B reads and writes under a fixed model at FACTOR x the read and
#   the write floor (rounded up to a whole us): median against the target,
#   late share; the goal is a median within 2 % of the target and under
#   1 % late.  The target must clear the fabric's own tail, which the
#   table shows beside it (UCX's p99 round trip, ucx_perftest -R 99): over
#   TCP here that was 1.9-2.5x its median, and a write is two exchanges
#   (the put, then the flush), hence the default factor of 3.5.
# Prints tables and the command that reproduces them.  Needs root
# (namespaces) and ucx_perftest (Debian package ucx-utils).  See --help.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=compare-ucx-hosts.sh
build=$root/build tls=tcp iters=2000 bw_iters=200 outstanding=16
sizes="65536,262144,1048576" fid_iters=20000 factor=3.5 calibration= quick=0 rounds=3

usage() {
	cat <<EOF
Usage: experiments/compare-ucx-hosts.sh [options]

  --build DIR          build tree (default $root/build)
  --tls LIST           UCX_TLS for both tools (default tcp)
  --iters N            64 B latency operations, model none (default 2000)
  --bw-iters N         operations per bandwidth size (default 200)
  --outstanding N      requests in flight for bandwidth (default 16)
  --sizes LIST         bandwidth sizes (default $sizes)
  --rounds N           bandwidth rounds, each ucx_perftest then sonuma-bench
                       (default 3): medians and the median ratio per size
  --fidelity-iters N   64 B reads (and writes) under the fixed model (default 20000)
  --factor F           the fixed model's targets: F x the fabric's 64 B read
                       and write floors, rounded up to a whole us (default 3.5:
                       above UCX's own p99 round trip over TCP here)
  --calibration FILE   this machine's calibration to start from (copied; the
                       fabric's section is added to the copy); default: a
                       new one, measured first
  --quick              short runs and quick calibrations, to check that it
                       works: its figures mean little
  -h, --help           this text
EOF
}
die() { echo "$prog: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--tls) tls=$2; shift 2 ;;
	--iters) iters=$2; shift 2 ;;
	--bw-iters) bw_iters=$2; shift 2 ;;
	--outstanding) outstanding=$2; shift 2 ;;
	--sizes) sizes=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--fidelity-iters) fid_iters=$2; shift 2 ;;
	--factor) factor=$2; shift 2 ;;
	--calibration) calibration=$2; shift 2 ;;
	--quick) quick=1; iters=300 bw_iters=20 fid_iters=300 rounds=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in iters bw_iters outstanding fid_iters rounds; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v//_/-}: expected a positive number, got \"${!v}\""
done
[[ $factor =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v f="$factor" 'BEGIN { exit !(f >= 1) }' ||
	die "--factor: expected a number of at least 1, got \"$factor\""
[[ -z $calibration || -r $calibration ]] || die "--calibration $calibration: cannot read it"
[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
command -v ucx_perftest >/dev/null || die "ucx_perftest not found (apt-get install ucx-utils)"
rmcd=$build/rmcd/rmcd bench=$build/experiments/sonuma-bench probe=$build/tests/ucx/ucx-probe
cal=$build/calibrate/sonuma-calibrate
for p in "$rmcd" "$bench" "$probe" "$cal"; do [[ -x $p ]] || die "$p not built"; done
libdir=$build/libsonuma
qflag=()
((quick)) && qflag=(--quick)

tmp=$(mktemp -d /tmp/sonuma-ucxh-XXXXXX)
ns=(snb$$-0 snb$$-1)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# This machine's calibration first, while nothing else of ours runs.
if [[ -n $calibration ]]; then
	cp "$calibration" "$tmp/cal.cfg"
	"$cal" --check -o "$tmp/cal.cfg" >/dev/null ||
		die "--calibration $calibration: $("$cal" --check -o "$tmp/cal.cfg")"
else
	echo "$prog: calibrating this machine (sonuma-calibrate ${qflag[*]})"
	"$cal" "${qflag[@]}" --rmcd "$rmcd" -o "$tmp/cal.cfg" >"$tmp/cal-machine.out" 2>&1 ||
		die "sonuma-calibrate: $(tail -3 "$tmp/cal-machine.out")"
fi

for k in 0 1; do
	ip netns add "${ns[k]}"
	ip -n "${ns[k]}" link set lo up
done
ip link add eth0 netns "${ns[0]}" type veth peer name eth0 netns "${ns[1]}"
for k in 0 1; do
	ip -n "${ns[k]}" addr add "10.213.1.$((k + 1))/24" dev eth0
	ip -n "${ns[k]}" link set eth0 up
done
# UCX takes the interfaces that are running when a program starts, and the
# kernel reports a new veth running some time after "link set up": a
# ucx_perftest server started before that publishes tcp/lo alone, and its
# client fails with "no active messages transport ... tcp/eth0 -
# Destination is unreachable" (what made ucp_put_lat, the first test run,
# come out n/a).  Wait for both ends.
for k in 0 1; do
	for _ in $(seq 100); do
		[[ $(ip netns exec "${ns[k]}" cat /sys/class/net/eth0/operstate) == up ]] && break
		sleep 0.05
	done
	[[ $(ip netns exec "${ns[k]}" cat /sys/class/net/eth0/operstate) == up ]] ||
		die "eth0 of ${ns[k]} is not up after 5 s"
done

ptls=$tls
[[ ,$tls, == *,self,* ]] || ptls=$tls,self # ucx_perftest needs self
# perf TEST SIZE OUTSTANDING ITERS [OPTION...]: the Final: line of a client
# in ns 0 against a server in ns 1, server on CPU 1 and client on CPU 0; on
# failure "Final: -" and UCX's first error in $tmp/perf.err.
perf() {
	local o=() port try line
	[[ -n $3 ]] && o=(-O "$3")
	o+=("${@:5}")
	: >"$tmp/perf.err"
	for try in 1 2 3; do
		port=$((20000 + RANDOM % 20000))
		ip netns exec "${ns[1]}" env UCX_TLS="$ptls" taskset -c 1 timeout 60 ucx_perftest \
			-p $port >"$tmp/perf-server.out" 2>&1 &
		local s=$!
		for _ in $(seq 50); do
			ip netns exec "${ns[1]}" ss -ltn | grep -q ":$port " && break
			sleep 0.05
		done
		ip netns exec "${ns[0]}" env UCX_TLS="$ptls" taskset -c 0 timeout 60 \
			ucx_perftest 10.213.1.2 -p $port -t "$1" -s "$2" -n "$4" "${o[@]}" \
			>"$tmp/perf-client.out" 2>&1 || true
		kill $s 2>/dev/null || true
		wait $s 2>/dev/null || true
		line=$(grep -m1 '^Final:' "$tmp/perf-client.out" || true)
		[[ -n $line ]] && { echo "$line"; return; }
		grep -h -m1 'ERROR' "$tmp/perf-client.out" "$tmp/perf-server.out" |
			sed 's/^.*UCX  ERROR *//' | head -1 >"$tmp/perf.err" || true
	done
	echo "Final: - - - - - - - -"
}

echo "$prog: ucx_perftest over UCX_TLS=$ptls between namespaces (10.213.1.1 -> 10.213.1.2)"
# A round trip of UCX itself: put_lat (a put answered by a put, reported
# as half the round trip), else the active-message or tag ping-pong.
rt_test=- lat=-
for t in ucp_put_lat ucp_am_lat tag_lat; do
	lat=$(perf "$t" 64 "" "$iters" | awk '{print $3}')
	if [[ $lat != - ]]; then
		rt_test=$t
		break
	fi
	echo "$prog: ucx_perftest -t $t failed: $(cat "$tmp/perf.err")" >&2
done
# Its tail: the same ping-pong's 99th percentile (ucx_perftest -R 99).
lat99=-
[[ $rt_test != - ]] && lat99=$(perf "$rt_test" 64 "" "$iters" -R 99 | awk '{print $3}')
IFS=, read -r -a bw_sizes <<<"$sizes"
# perf_bw ROUND: ucx_perftest's get and put bandwidth for each size, as
# "ROUND SIZE get|put MB/s" lines in $tmp/bw.txt (the rmcds are down).
perf_bw() {
	local s
	for s in "${bw_sizes[@]}"; do
		echo "$1 $s ucp_get $(perf ucp_get "$s" "$outstanding" "$bw_iters" | awk '{print $7}')"
		echo "$1 $s ucp_put_bw $(perf ucp_put_bw "$s" "$outstanding" "$bw_iters" | awk '{print $7}')"
	done >>"$tmp/bw.txt"
}
: >"$tmp/bw.txt"

# The cluster's file, and each node's: its RMC thread on a CPU of its own
# where there are enough (rmc.cpus is not part of what nodes must agree
# on), so that two busy RMC loops of one machine do not share a CPU.
ncpu=$(nproc)
cat >"$tmp/rack.conf" <<EOF
cluster = { nodes = 2; context_pages = 4096; max_transfer = 1048576; };
fabric = { name = "ucx"; nodes = ["10.213.1.1:13337", "10.213.1.2:13337"]; };
EOF
for k in 0 1; do
	cp "$tmp/rack.conf" "$tmp/rack$k.conf"
	((ncpu >= 3)) && echo "rmc = { cpus = [$((k + 1))]; };" >>"$tmp/rack$k.conf"
done
((ncpu >= 4)) || echo "$prog: warning: $ncpu CPUs: the two rmcds' RMC loops and the program" \
	"share them, and the latencies measure time slicing as much as the fabric (4 CPUs or more" \
	"give each its own)" >&2

# rmcd_up K [ARGS...]: node K's rmcd in its namespace.
rmcd_up() {
	local k=$1
	shift
	ip netns exec "${ns[k]}" env UCX_TLS="$tls" SONUMA_RUNDIR="$tmp/run$k" \
		"$rmcd" -c "$tmp/rack$k.conf" "$@" 2 $k >>"$tmp/rmcd$k.log" 2>&1 &
	pids[k]=$!
}
rmcd_down() {
	kill -TERM "${pids[$1]}" 2>/dev/null || true
	wait "${pids[$1]}" 2>/dev/null || true
}
app() { ip netns exec "${ns[0]}" env SONUMA_RUNDIR="$tmp/run0" SONUMA_NODE=0 \
	LD_LIBRARY_PATH="$libdir" taskset -c 0 "$@"; }
# column NAME FILE SIZE: a column of sonuma-bench's CSV for a size.
column() {
	awk -F, -v name="$1" -v size="$3" '
		/^#/ { next }
		!h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
		$c["size"] == size { print $c[name]; exit }' "$2"
}

echo "$prog: bandwidth in $rounds rounds: ucx_perftest, then sonuma-bench (rmcd per namespace" \
	"over UCX_TLS=$tls, model none)"
for r in $(seq "$rounds"); do
	perf_bw "$r"
	rmcd_up 1
	rmcd_up 0
	app "$probe" up 20 || die "the rmcds did not meet: $(tail -3 "$tmp"/rmcd*.log)"
	((r == 1)) && app "$bench" -t 1 -m sync -s 64 -n "$iters" -w 200 -f csv >"$tmp/sync.csv"
	app "$bench" -t 1 -m async -d "$outstanding" --bw -s "$sizes" -n "$bw_iters" -w 20 -f csv \
		>"$tmp/rd.csv"
	app "$bench" -t 1 -o write -m async -d "$outstanding" --bw -s "$sizes" -n "$bw_iters" \
		-w 20 -f csv >"$tmp/wr.csv"
	for s in "${bw_sizes[@]}"; do
		echo "$r $s read $(column bw_MBps "$tmp/rd.csv" "$s")"
		echo "$r $s write $(column bw_MBps "$tmp/wr.csv" "$s")"
	done >>"$tmp/bw.txt"
	rmcd_down 0
	rmcd_down 1
done
rmcd_up 1

# ---- fidelity: the fabric's floor, then a fixed model above it ----------

# Node 1 is up with the none model; sonuma-calibrate runs node 0 itself.
echo "$prog: sonuma-calibrate --fabric: the fabric's floor from node 0 to node 1"
ip netns exec "${ns[0]}" env UCX_TLS="$tls" "$cal" "${qflag[@]}" --fabric "$tmp/rack0.conf" \
	--peer 1 --rmcd "$rmcd" -o "$tmp/cal.cfg" >"$tmp/cal-fabric.out" 2>&1 ||
	die "sonuma-calibrate --fabric: $(tail -3 "$tmp/cal-fabric.out")"
rmcd_down 1
floor=$(awk '$1 == "fabrics" { f = 1 } f && $1 == "read_ns" { sub(/;/, "", $3); print $3; exit }' \
	"$tmp/cal.cfg")
wfloor=$(awk '$1 == "fabrics" { f = 1 } f && $1 == "write_ns" { sub(/;/, "", $3); print $3; exit }' \
	"$tmp/cal.cfg")
[[ $floor =~ ^[0-9.]+$ && $wfloor =~ ^[0-9.]+$ ]] ||
	die "no 64 B floor in the calibration's fabric section"
# above FLOOR: FACTOR x FLOOR in ns, rounded up to a whole us.
above() { awk -v f="$1" -v k="$factor" 'BEGIN { t = f * k / 1000; printf "%d", (t == int(t) ? t : int(t) + 1) * 1000 }'; }
target=$(above "$floor") wtarget=$(above "$wfloor")
for k in 0 1; do
	echo "model = { name = \"fixed\"; read_ns = $target; write_ns = $wtarget; };" >>"$tmp/rack$k.conf"
	: >"$tmp/rmcd$k.log"
done
rmcd_up 1 -C "$tmp/cal.cfg"
rmcd_up 0 -C "$tmp/cal.cfg"
app "$probe" up 20 || die "the rmcds with the fixed model did not meet: $(tail -3 "$tmp"/rmcd*.log)"
grep -q "ucx fabric floor to node 1" "$tmp/rmcd0.log" ||
	die "node 0's rmcd does not use the fabric's floor: $(grep -i 'fabric\|floor' "$tmp/rmcd0.log")"
echo "$prog: sync 64 B reads and writes, fixed model at $target and $wtarget ns ($factor x the floors)"
app "$bench" -t 1 -m sync -s 64 -n "$fid_iters" -w 200 -f csv >"$tmp/fid-rd.csv"
app "$bench" -t 1 -o write -m sync -s 64 -n "$fid_iters" -w 200 -f csv >"$tmp/fid-wr.csv"
rmcd_down 0
rmcd_down 1

p50=$(column t_p50_ns "$tmp/sync.csv" 64)
printf '\n%-34s %12s %14s\n' "64 B" "sonuma" "ucx_perftest"
printf '%-34s %9.1f us %14s  (%s)\n' "sync read latency, median" \
	"$(awk -v v="$p50" 'BEGIN{print v/1000}')" \
	"$([[ $lat == - ]] && echo n/a || awk -v v="$lat" 'BEGIN{printf "%.1f us", 2*v}')" \
	"$([[ $rt_test == - ]] && echo "no UCX ping-pong ran: see above" || echo "2 x $rt_test, median")"
printf '\nBandwidth, MB/s: medians over %s rounds, and the median of the per-round ratios\n' \
	"$rounds"
printf '(goal: sonuma at least 0.9 x ucx_perftest; each round lists its figures below)\n'
printf '%-10s %10s %10s %8s %10s %12s %8s\n' size read ucp_get ratio write ucp_put_bw ratio
awk '
	function med(v, n,   i, j, t, a) {
		for (i = 1; i <= n; i++) a[i] = v[i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ v[$2, $3, $1] = $4; sz[$2] = 1; rd[$1] = 1 }
	END {
		for (s in sz) {
			line = sprintf("%-10s", s)
			split("read ucp_get write ucp_put_bw", k, " ")
			for (p = 1; p <= 3; p += 2) {
				n = m = 0
				for (r in rd) {
					a[++n] = v[s, k[p], r]; b[n] = v[s, k[p + 1], r]
					if (b[n] + 0 > 0 && a[n] != "") q[++m] = a[n] / b[n]
				}
				line = line sprintf(" %10.1f %*.1f %8s", med(a, n), p == 1 ? 10 : 12, med(b, n),
						    m ? sprintf("%.2f", med(q, m)) : "-")
			}
			print line
		}
	}' "$tmp/bw.txt" | sort -n
printf 'per round (round size what MB/s): %s\n' "$(sort -k1,1n -k2,2n "$tmp/bw.txt" | tr '\n' ';')"

# fid OP FILE FLOOR TARGET: one row of the fidelity table, with UCX's own
# p99 round trip beside it (each operation needs one at least: a read is
# one, a write a put and the flush that waits for it).
fid() {
	local med late pct
	med=$(column t_p50_ns "$2" 64) late=$(column late "$2" 64) pct=$(column late_pct "$2" 64)
	awk -v op="$1" -v fl="$3" -v t="$4" -v m="$med" -v l="$late" -v p="$pct" -v n="$fid_iters" \
		-v u="$lat99" '
		BEGIN {
			r = m / t
			ok = (r >= 0.98 && r <= 1.02 && p < 1) ? "meets" : "misses"
			# u: ucx_perftest'"'"'s one-way figure (half the round trip), in us
			ux = u == "-" ? "-" : sprintf("%.1f", 2 * u)
			printf "%-6s %10.1f %10.1f %10.1f %8.4f %8s %8.2f %% %12s  %s\n", op, fl / 1000,
				t / 1000, m / 1000, r, l, p, ux, ok
			if (u != "-" && 2 * u * 1000 > t)
				printf "       (over 1 %% of UCX'"'"'s own round trips take longer than the target)\n"
		}'
}
printf '\nFidelity over the fabric: fixed model at %s x the 64 B floors, rounded up to a us\n' \
	"$factor"
printf '(%s sync operations; goal: median within 2 %% of the target, under 1 %% late)\n' "$fid_iters"
printf '(UCX p99: %s, the 99th percentile of its own round trip)\n' \
	"$([[ $rt_test == - ]] && echo "not measured" || echo "2 x $rt_test -R 99")"
printf '%-6s %10s %10s %10s %8s %8s %10s %12s  %s\n' "64 B" "floor us" "target us" "median us" \
	"ratio" "late" "late" "UCX p99 us" "goal"
fid read "$tmp/fid-rd.csv" "$floor" "$target"
fid write "$tmp/fid-wr.csv" "$wfloor" "$wtarget"
echo
echo "reproduce: sudo experiments/compare-ucx-hosts.sh$( ((quick)) && echo " --quick") --tls $tls --iters $iters --bw-iters $bw_iters --outstanding $outstanding --sizes $sizes --rounds $rounds --fidelity-iters $fid_iters --factor $factor${calibration:+ --calibration $calibration}"

#!/bin/bash
# SPDX-License-Identifier: MIT
#
# compare-ucx-hosts.sh: the ucx fabric between two "hosts" (network
# namespaces joined by a veth pair, 10.213.1.1 and 10.213.1.2) next to UCX's
# own benchmark over the same transport and addresses:
#   sync 64 B reads (sonuma-bench, median)  vs  2 x ucp_put_lat 64 B (typical)
#   async bandwidth 64 KiB - 1 MiB (sonuma-bench --bw, reads and writes)
#                                            vs  ucp_get / ucp_put_bw -O N
# Prints a table and the command that reproduces it.  Needs root
# (namespaces) and ucx_perftest (Debian package ucx-utils).  See --help.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=compare-ucx-hosts.sh
build=$root/build tls=tcp iters=2000 bw_iters=200 outstanding=16
sizes="65536,262144,1048576"

usage() {
	cat <<EOF
Usage: experiments/compare-ucx-hosts.sh [options]

  --build DIR       build tree (default $root/build)
  --tls LIST        UCX_TLS for both tools (default tcp)
  --iters N         64 B latency operations (default 2000)
  --bw-iters N      operations per bandwidth size (default 200)
  --outstanding N   requests in flight for bandwidth (default 16)
  --sizes LIST      bandwidth sizes (default $sizes)
  -h, --help        this text
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
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
command -v ucx_perftest >/dev/null || die "ucx_perftest not found (apt-get install ucx-utils)"
rmcd=$build/rmcd/rmcd bench=$build/experiments/sonuma-bench probe=$build/tests/ucx/ucx-probe
for p in "$rmcd" "$bench" "$probe"; do [[ -x $p ]] || die "$p not built"; done
libdir=$build/libsonuma

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
for k in 0 1; do
	ip netns add "${ns[k]}"
	ip -n "${ns[k]}" link set lo up
done
ip link add eth0 netns "${ns[0]}" type veth peer name eth0 netns "${ns[1]}"
for k in 0 1; do
	ip -n "${ns[k]}" addr add "10.213.1.$((k + 1))/24" dev eth0
	ip -n "${ns[k]}" link set eth0 up
done

# perf TEST SIZE [OUTSTANDING]: the Final: line of a client in ns 0 against
# a server in ns 1, server on CPU 1 and client on CPU 0.
perf() {
	local o=() port try line ptls=$tls
	[[ ,$tls, == *,self,* ]] || ptls=$tls,self # ucx_perftest needs self

	[[ -n ${3:-} ]] && o=(-O "$3")
	for try in 1 2 3; do
		port=$((20000 + RANDOM % 20000))
		ip netns exec "${ns[1]}" env UCX_TLS="$ptls" taskset -c 1 timeout 60 ucx_perftest \
			-p $port >/dev/null 2>&1 &
		local s=$!
		for _ in $(seq 50); do
			ip netns exec "${ns[1]}" ss -ltn | grep -q ":$port " && break
			sleep 0.05
		done
		line=$(ip netns exec "${ns[0]}" env UCX_TLS="$ptls" taskset -c 0 timeout 60 \
			ucx_perftest 10.213.1.2 -p $port -t "$1" -s "$2" -n "$4" "${o[@]}" 2>&1 |
			grep -m1 '^Final:' || true)
		kill $s 2>/dev/null || true
		wait $s 2>/dev/null || true
		[[ -n $line ]] && { echo "$line"; return; }
	done
	echo "Final: - - - - - - - -"
}

echo "$prog: ucx_perftest over UCX_TLS=$tls between namespaces (10.213.1.1 -> 10.213.1.2)"
lat=$(perf ucp_put_lat 64 "" "$iters" | awk '{print $3}')
declare -A get put
IFS=, read -r -a bw_sizes <<<"$sizes"
for s in "${bw_sizes[@]}"; do
	get[$s]=$(perf ucp_get "$s" "$outstanding" "$bw_iters" | awk '{print $7}')
	put[$s]=$(perf ucp_put_bw "$s" "$outstanding" "$bw_iters" | awk '{print $7}')
done

cat >"$tmp/rack.conf" <<EOF
cluster = { nodes = 2; context_pages = 4096; max_transfer = 1048576; };
fabric = { name = "ucx"; nodes = ["10.213.1.1:13337", "10.213.1.2:13337"]; };
EOF
for k in 1 0; do
	ip netns exec "${ns[k]}" env UCX_TLS="$tls" SONUMA_RUNDIR="$tmp/run$k" \
		"$rmcd" -c "$tmp/rack.conf" 2 $k >"$tmp/rmcd$k.log" 2>&1 &
	pids+=($!)
done
app() { ip netns exec "${ns[0]}" env SONUMA_RUNDIR="$tmp/run0" SONUMA_NODE=0 \
	LD_LIBRARY_PATH="$libdir" taskset -c 0 "$@"; }
app "$probe" up 20 || die "the rmcds did not meet: $(tail -3 "$tmp"/rmcd*.log)"
echo "$prog: sonuma-bench, rmcd per namespace over UCX_TLS=$tls (model none)"
app "$bench" -t 1 -m sync -s 64 -n "$iters" -w 200 -f csv >"$tmp/sync.csv"
app "$bench" -t 1 -m async -d "$outstanding" --bw -s "$sizes" -n "$bw_iters" -w 20 -f csv \
	>"$tmp/rd.csv"
app "$bench" -t 1 -o write -m async -d "$outstanding" --bw -s "$sizes" -n "$bw_iters" -w 20 \
	-f csv >"$tmp/wr.csv"
# column NAME FILE SIZE: a column of sonuma-bench's CSV for a size.
column() {
	awk -F, -v name="$1" -v size="$3" '
		/^#/ { next }
		!h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
		$c["size"] == size { print $c[name]; exit }' "$2"
}
p50=$(column t_p50_ns "$tmp/sync.csv" 64)
printf '\n%-34s %12s %12s\n' "64 B" "sonuma" "ucx_perftest"
# ucp_put_lat exchanges worker addresses, and UCX 1.13 over tcp between
# namespaces answers "Destination is unreachable" there: n/a then.
printf '%-34s %9.1f us %12s  (2 x ucp_put_lat typical)\n' "sync read latency, median" \
	"$(awk -v v="$p50" 'BEGIN{print v/1000}')" \
	"$([[ $lat == - ]] && echo n/a || awk -v v="$lat" 'BEGIN{printf "%.1f us", 2*v}')"
printf '\n%-10s %16s %16s %16s %16s\n' size "read MB/s" "ucp_get MB/s" "write MB/s" "ucp_put_bw MB/s"
for s in "${bw_sizes[@]}"; do
	printf '%-10s %16s %16s %16s %16s\n' "$s" "$(column bw_MBps "$tmp/rd.csv" "$s")" "${get[$s]}" \
		"$(column bw_MBps "$tmp/wr.csv" "$s")" "${put[$s]}"
done
echo
echo "reproduce: sudo experiments/compare-ucx-hosts.sh --tls $tls --iters $iters --bw-iters $bw_iters --outstanding $outstanding --sizes $sizes"

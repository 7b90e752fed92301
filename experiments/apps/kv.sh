#!/bin/bash
# SPDX-License-Identifier: MIT
#
# kv.sh: the key-value store (sonuma-kv) under several timing models.  For
# each model config, starts rmcd with it in a private run directory, runs one
# sonuma-kv per node through sonuma-run, stores every node's JSON and CSV,
# rmcd's log and the config under results/<timestamp>/apps/kv/<config>/,
# stops rmcd, and at the end gathers the cluster's figures of every config
# into kv.csv and draws throughput and latency against the remote latency
# (plots/apps/kv.gp).  See --help.
set -euo pipefail

# shellcheck source=experiments/apps/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
Usage: experiments/apps/kv.sh [options] [CONFIG...]

Runs the key-value store sonuma-kv, one process per node, under each
timing-model CONFIG (one rmcd per config) and writes
  OUT/<timestamp>/apps/kv/<config>/node<i>.{json,csv,log}, rmc.conf, rmcd.log
  OUT/<timestamp>/apps/kv/kv.csv    the cluster's figures, one row per config
  OUT/<timestamp>/apps/kv/run.txt   how the run was made
  OUT/<timestamp>/apps/kv/plots/kv.{png,svg}
EOF
	driver_usage_configs
	cat <<EOF
  --keys N             keys in the store (default 20000)
  --value-size B       value bytes (default 64)
  --get-pct P          share of gets (default 95)
  --dist uniform|zipf  key popularity (default zipf)
  --theta T            Zipf skew (default 0.99)
  --time SECS          measured run per config (default 3)
  --threads N          threads per process (default 1)
  --get-check seqlock|checksum  (default seqlock)
  --writers owner|any  (default owner: one writer per key, exact check)
  --seed N             (default 1)
EOF
	driver_usage_common apps/kv "2000 keys, 0.5 s per config" SONUMA_KV
	cat <<EOF
Exit status: 0 when every run passed its checks, 1 on a failure, 2 on bad
usage.
EOF
}

configs=() nodes_opt="" keys="" vsize=64 get_pct=95 dist=zipf theta=0.99 secs=""
threads=1 get_check=seqlock writers=owner seed=1 out_root=$root/results run_dir=""
quick=0 calibration="" build=${SONUMA_BUILD:-$root/build} timeout_s=300 plots=1
orig_args=("$@")

value_opts=(--keys keys --value-size vsize --get-pct get_pct --dist dist --theta theta
	--time secs --threads threads --get-check get_check --writers writers)
driver_args "$@"

# ---- options --------------------------------------------------------------
driver_parsed keys 2000 20000 secs 0.5 3
in_range "$keys" 1 1073741824 || bad_usage "--keys: 1 to 2^30, not \"$keys\""
in_range "$vsize" 8 65536 && ((vsize % 8 == 0)) ||
	bad_usage "--value-size: a multiple of 8 from 8 to 65536, not \"$vsize\""
in_range "$get_pct" 0 100 || bad_usage "--get-pct: 0 to 100, not \"$get_pct\""
[[ $dist == zipf || $dist == uniform ]] || bad_usage "--dist: uniform or zipf, not \"$dist\""
is_num "$theta" || bad_usage "--theta: a number between 0 and 1, not \"$theta\""
is_num "$secs" || bad_usage "--time: seconds, not \"$secs\""
in_range "$threads" 1 16 || bad_usage "--threads: 1 to 16, not \"$threads\""
[[ $get_check == seqlock || $get_check == checksum ]] ||
	bad_usage "--get-check: seqlock or checksum, not \"$get_check\""
[[ $writers == owner || $writers == any ]] || bad_usage "--writers: owner or any, not \"$writers\""
driver_prepare SONUMA_KV experiments/apps/sonuma-kv sonuma-kv apps/kv
kvprog=$app
kv_args=(--keys "$keys" --value-size "$vsize" --get-pct "$get_pct" --dist "$dist"
	--time "$secs" --threads "$threads" --get-check "$get_check" --writers "$writers"
	--seed "$seed")
[[ $dist == zipf ]] && kv_args+=(--zipf-theta "$theta")
driver_record sonuma-kv "${kv_args[@]}"

# ---- the runs ---------------------------------------------------------------
t0=$SECONDS
failed=0
rm -f "$out/kv.csv"
for ci in "${!conf_names[@]}"; do
	driver_run "$ci" "$out/kv.csv" "$kvprog" "${kv_args[@]}"
	((ok)) || continue
	echo " done in $((SECONDS - ts)) s: $(awk -F, '{ printf "%.3f Mops/s, get p50 %.2f us, put p50 %.2f us, unloaded read %.2f us", $18 / 1e6, $21 / 1e3, $25 / 1e3, $15 / 1e3 }' <<<"$row")"
done
echo "$prog: all runs done in $((SECONDS - t0)) s"

if [[ -f $out/kv.csv ]]; then
	echo
	column -s, -t < <(cut -d, -f1,4,15,17,18,21,22,23,25,26,34-38 "$out/kv.csv") 2>/dev/null ||
		cat "$out/kv.csv"
fi
if ((plots)) && [[ -f $out/kv.csv ]]; then
	d0=$dist
	[[ $dist == zipf ]] && d0="zipf $theta"
	sub="$(plot_nodes) nodes x $threads thread(s), $keys keys, $vsize-byte values, $get_pct% gets"
	sub+=", $d0, get check $get_check, writers: $writers"
	driver_plot kv "$sub"
fi
((failed == 0)) || die "some runs failed (see above and the logs in $out)"

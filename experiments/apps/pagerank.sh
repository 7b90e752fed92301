#!/bin/bash
# SPDX-License-Identifier: MIT
#
# pagerank.sh: PageRank (sonuma-pagerank) under several timing models.  For
# each model config, starts rmcd with it in a private run directory, runs one
# sonuma-pagerank per node through sonuma-run, stores every node's JSON and
# CSV, the per-iteration times, rmcd's log and the config under
# results/<timestamp>/apps/pagerank/<config>/, stops rmcd, and at the end
# gathers every config's figures into pagerank.csv and draws the time per
# iteration of each model (plots/apps/pagerank.gp).  See --help.
set -euo pipefail

# shellcheck source=experiments/apps/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
Usage: experiments/apps/pagerank.sh [options] [CONFIG...]

Runs sonuma-pagerank, one process per node, under each timing-model CONFIG
(one rmcd per config) and writes
  OUT/<timestamp>/apps/pagerank/<config>/node<i>.{json,csv,log}, iters.csv,
      rmc.conf, rmcd.log
  OUT/<timestamp>/apps/pagerank/pagerank.csv  one row per config
  OUT/<timestamp>/apps/pagerank/run.txt       how the run was made
  OUT/<timestamp>/apps/pagerank/plots/pagerank.{png,svg}
EOF
	driver_usage_configs
	cat <<EOF
  --vertices N         vertices (default 65536)
  --edges M            edges (default 8 per vertex)
  --iters N            iterations (default 20)
  --outstanding N      remote reads in flight (default 16)
  --max-read BYTES     largest merged read (default 512)
  --seed N             graph seed (default 1)
EOF
	driver_usage_common apps/pagerank "8192 vertices, 5 iterations" SONUMA_PAGERANK
	cat <<EOF
Every run checks its ranks against a single-node computation; a failed
check fails the run.  Exit status: 0 when every run passed, 1 on a failure,
2 on bad usage.
EOF
}

configs=() nodes_opt="" vertices="" edges="" iters="" outstanding=16 max_read=512 seed=1
out_root=$root/results run_dir="" quick=0 calibration="" build=${SONUMA_BUILD:-$root/build}
timeout_s=300 plots=1
orig_args=("$@")

value_opts=(--vertices vertices --edges edges --iters iters --outstanding outstanding
	--max-read max_read)
driver_args "$@"

# ---- options --------------------------------------------------------------
driver_parsed vertices 8192 65536 iters 5 20
in_range "$vertices" 2 268435456 || bad_usage "--vertices: 2 to 2^28, not \"$vertices\""
: "${edges:=$((vertices * 8))}"
in_range "$edges" 1 2147483648 || bad_usage "--edges: 1 to 2^31, not \"$edges\""
in_range "$iters" 1 190 || bad_usage "--iters: 1 to 190, not \"$iters\""
in_range "$outstanding" 1 128 || bad_usage "--outstanding: 1 to 128, not \"$outstanding\""
in_range "$max_read" 64 1073741824 && ((max_read % 64 == 0)) ||
	bad_usage "--max-read: a multiple of 64 bytes, not \"$max_read\""
driver_prepare SONUMA_PAGERANK experiments/apps/sonuma-pagerank sonuma-pagerank apps/pagerank
prprog=$app
pr_args=(--vertices "$vertices" --edges "$edges" --iters "$iters" --outstanding "$outstanding"
	--max-read "$max_read" --seed "$seed")
driver_record sonuma-pagerank "${pr_args[@]}"

# ---- the runs ---------------------------------------------------------------
t0=$SECONDS
failed=0
rm -f "$out/pagerank.csv"
for ci in "${!conf_names[@]}"; do
	driver_run "$ci" "$out/pagerank.csv" "$prprog" "${pr_args[@]}" \
		--iter-output "$out/${conf_names[$ci]}/iters.csv"
	((ok)) || continue
	echo " done in $((SECONDS - ts)) s: $(awk -F, '{ printf "median iteration %.3f ms (fetch %.3f, compute %.3f, barrier %.3f), mean %.3f ms; max diff %s, top-k same: %s", $14, $21, $22, $23, $15, $28, $29 }' <<<"$row")"
done
echo "$prog: all runs done in $((SECONDS - t0)) s"

if [[ -f $out/pagerank.csv ]]; then
	echo
	column -s, -t < <(cut -d, -f1,4,6,7,12,14-17,21-25,28-30 "$out/pagerank.csv") 2>/dev/null ||
		cat "$out/pagerank.csv"
fi
if ((plots)) && [[ -f $out/pagerank.csv ]]; then
	sub="$(plot_nodes) nodes, $vertices vertices, $edges edges (R-MAT, seed $seed), $iters iterations"
	sub+=", reads of up to $max_read B, $outstanding in flight"
	driver_plot pagerank "$sub"
fi
((failed == 0)) || die "some runs failed (see above and the logs in $out)"

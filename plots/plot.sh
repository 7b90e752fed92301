#!/bin/bash
# SPDX-License-Identifier: MIT
#
# plot.sh: draws the plots of a sweep (experiments/sweep.sh) from its CSV and
# JSON files alone, as PNG and SVG, into RESULTS_DIR/plots/.  See --help.
set -euo pipefail

# shellcheck source=experiments/lib/opts.sh
. "$(dirname "${BASH_SOURCE[0]}")/../experiments/lib/opts.sh"

usage() {
	cat <<EOF2
Usage: plots/plot.sh [options] RESULTS_DIR

Draws, from the CSV/JSON files of a sweep (RESULTS_DIR/<config>/...):
  latency-CONFIG    latency vs size per model: p50 with a band to p99, and
                    the model's target (sync | async)
  latency-all       p50 of every model against its target (sync read | write)
  bandwidth-CONFIG  bandwidth vs size per model, with the configured link
                    bandwidth and the bound the model's latency implies
  bandwidth-all     async bandwidth of every model (read | write)
  fidelity          error of the median against the target, per model
  cdf-SIZE          latency distribution at one size: a step approximation
                    through t_min, p50, p99, p99.9 and t_max (sonuma-bench
                    reports no per-operation samples), CDF | tail
  ucx-compare       when RESULTS_DIR/ucx/ exists (experiments/compare-ucx.sh)
each as PNG and SVG.

Options:
  --out DIR          where the figures go (default RESULTS_DIR/plots)
  --cdf-size BYTES   size of the distribution plot (default 64; the nearest
                     size measured is used)
  --cdf-op OP        read or write (default read)
  --cdf-mode MODE    sync or async (default sync)
  --err-max PCT      fidelity plot: errors above are drawn at the top edge
                     (default 300)
  --formats LIST     png,svg (default both)
  -h, --help         this text
EOF2
}

outdir="" cdf_size=64 cdf_op=read cdf_mode=sync err_max=300 formats=png,svg results=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--out) [[ $# -ge 2 ]] || bad_usage "--out needs a value"; outdir=$2; shift 2 ;;
	--cdf-size) [[ $# -ge 2 ]] || bad_usage "--cdf-size needs a value"; cdf_size=$2; shift 2 ;;
	--cdf-op) [[ $# -ge 2 ]] || bad_usage "--cdf-op needs a value"; cdf_op=$2; shift 2 ;;
	--cdf-mode) [[ $# -ge 2 ]] || bad_usage "--cdf-mode needs a value"; cdf_mode=$2; shift 2 ;;
	--err-max) [[ $# -ge 2 ]] || bad_usage "--err-max needs a value"; err_max=$2; shift 2 ;;
	--formats) [[ $# -ge 2 ]] || bad_usage "--formats needs a value"; formats=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	-*) bad_usage "unknown option \"$1\"" ;;
	*) [[ -z $results ]] || bad_usage "one RESULTS_DIR only"; results=$1; shift ;;
	esac
done
[[ -n $results ]] || bad_usage "RESULTS_DIR is missing"
[[ -d $results ]] || die "$results: not a directory"
in_range "$cdf_size" 1 1099511627776 || bad_usage "--cdf-size: bytes, not \"$cdf_size\""
[[ $cdf_op == read || $cdf_op == write ]] || bad_usage "--cdf-op: read or write"
[[ $cdf_mode == sync || $cdf_mode == async ]] || bad_usage "--cdf-mode: sync or async"
in_range "$err_max" 10 100000 || bad_usage "--err-max: a percentage >= 10"
fmts=()
IFS=', ' read -r -a fl <<<"$formats"
for f in "${fl[@]}"; do
	[[ $f == png || $f == svg ]] || bad_usage "--formats: png and/or svg, not \"$f\""
	fmts+=("$f")
done
command -v gnuplot >/dev/null || die "gnuplot is not installed (apt-get install gnuplot-nox)"
command -v python3 >/dev/null || die "python3 is not installed"

results=$(cd "$results" && pwd)
outdir=${outdir:-$results/plots}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
terms=$(gnuplot -e 'set terminal' 2>&1 </dev/null || true)
pngterm=png
grep -qw pngcairo <<<"$terms" && pngterm=pngcairo
if ! grep -qw svg <<<"$terms"; then
	echo "$prog: this gnuplot has no svg terminal: PNG only" >&2
	fmts=("${fmts[@]/svg/}")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sonuma-plot.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 "$root/experiments/summary.py" plotdata "$results" "$work" --cdf-size "$cdf_size" \
	--cdf-op "$cdf_op" --cdf-mode "$cdf_mode" --err-max "$err_max" ||
	die "cannot read the results in $results"
nconf=$(sed -n 's/^nconf = //p' "$work/meta.gp")
has_ucx=$(grep -c "^ucx_file = '.\+'" "$work/meta.gp" || true)
((nconf > 0 || has_ucx > 0)) || die "$results: no sonuma-bench results (CONFIG/read-sync.csv ...)"

scripts=()
((nconf > 0)) && scripts+=(latency bandwidth fidelity cdf)
((has_ucx > 0)) && scripts+=(ucx)
for fmt in "${fmts[@]}"; do
	[[ -z $fmt ]] && continue
	for s in "${scripts[@]}"; do
		# gnuplot warns about every file or column without a usable point
		# (a model without a target, say): expected, so kept out of sight
		# unless gnuplot fails.
		if ! gnuplot -e "fmt='$fmt'; pngterm='$pngterm'; outdir='$outdir'; work='$work'; here='$here'" \
			"$here/$s.gp" >"$work/$s.log" 2>&1; then
			cat "$work/$s.log" >&2
			die "gnuplot failed on $s.gp ($fmt)"
		fi
	done
done
n=$(find "$outdir" -maxdepth 1 -name '*.png' | wc -l)
echo "$prog: $n PNG figures (and SVG) in $outdir"

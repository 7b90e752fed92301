# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2154
#
# common.sh: what the application drivers (kv.sh, pagerank.sh) share:
# finding the programs, resolving model configs, one rmcd per config in a
# private run directory, running one process per node through sonuma-run,
# and cleaning up whatever happens.  Sourced, not run; with opts.sh, it
# sets prog, here (this directory) and root (the source tree).

# shellcheck source=experiments/lib/opts.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/opts.sh"
usage_line="Usage: $prog [options] [CONFIG...]  (see --help)"

# driver_usage_configs: the help of CONFIG and of the options that choose
# the configs, between a driver's description and its own options.
driver_usage_configs() {
	cat <<EOF
CONFIG is a name from experiments/configs/ (fixed-1us) or a path to a .conf
file; default: none fixed-300ns fixed-1us link-10g.

Options:
  --configs LIST       configs, comma- or space-separated (same as CONFIG...)
  --nodes N            run with N nodes whatever the config says
EOF
}

# driver_usage_common SUB QUICK ENV: the help of the options every driver
# takes after its own: its results under SUB, what --quick makes smaller,
# and ENV, the variable naming its program.
driver_usage_common() {
	cat <<EOF
  --out DIR            results root (default $root/results); the run goes
                       to DIR/<timestamp>/$1/
  --run-dir DIR        write the run exactly into DIR instead
  --quick              a small run: $2
  --calibration FILE   calibration for rmcd (default: rmcd's own default)
  --build DIR          build tree with the programs (default $root/build);
                       \$SONUMA_RMCD, \$SONUMA_RUN, \$$3 override
  --timeout SECS       limit per process (default 300)
  --no-plots           do not draw the plots
  -h, --help           this text
EOF
}

# driver_opt "$@": takes the options every driver has (and its CONFIG
# arguments) from the front of the command line, setting nshift to how many
# words it took; says so and exits on an unknown option.
driver_opt() {
	local more
	nshift=2
	case $1 in
	--configs) need_arg "$@"; IFS=', ' read -r -a more <<<"$2"; configs+=("${more[@]}") ;;
	--nodes) need_arg "$@"; nodes_opt=$2 ;;
	--seed) need_arg "$@"; seed=$2 ;;
	--out) need_arg "$@"; out_root=$2 ;;
	--run-dir) need_arg "$@"; run_dir=$2 ;;
	--calibration) need_arg "$@"; calibration=$2 ;;
	--build) need_arg "$@"; build=$2 ;;
	--timeout) need_arg "$@"; timeout_s=$2 ;;
	--quick) quick=1; nshift=1 ;;
	--no-plots) plots=0; nshift=1 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; configs+=("$@"); nshift=$(($# + 1)) ;;
	-*) bad_usage "unknown option \"$1\"" ;;
	*) configs+=("$1"); nshift=1 ;;
	esac
}

# driver_args "$@": the command line: the driver's own options (its
# value_opts, see take_value) and the options every driver has.
driver_args() {
	while [[ $# -gt 0 ]]; do
		take_value "$@" || driver_opt "$@"
		shift "$nshift"
	done
}

# driver_parsed [VAR QUICK DEFAULT]...: once the command line is read:
# each VAR not given is QUICK with --quick, else DEFAULT; --nodes checked.
driver_parsed() {
	while (($# >= 3)); do
		if [[ -z ${!1} ]]; then
			if ((quick)); then
				printf -v "$1" '%s' "$2"
			else
				printf -v "$1" '%s' "$3"
			fi
		fi
		shift 3
	done
	[[ -z $nodes_opt ]] || in_range "$nodes_opt" 1 64 || bad_usage "--nodes: 1 to 64, not \"$nodes_opt\""
}

# driver_prepare ENV BUILD-SUBPATH NAME SUB: what both drivers do once their
# own options are checked: the shared options, the configs (every one
# shipped by default), the programs (the application into app; ENV names
# the variable that overrides it), the tools, and the output directory out
# (--run-dir, or a fresh results/<timestamp>/SUB).
driver_prepare() {
	local env=$1 sub=$2 name=$3 res=$4
	in_range "$seed" 0 999999999999999 || bad_usage "--seed: a number, not \"$seed\""
	in_range "$timeout_s" 1 1000000 || bad_usage "--timeout: seconds, not \"$timeout_s\""
	[[ -z $calibration || -f $calibration ]] ||
		bad_usage "--calibration: no such file \"$calibration\""
	((${#configs[@]})) || configs=(none fixed-300ns fixed-1us link-10g)
	resolve_configs "$root/experiments/configs" "${configs[@]}"
	check_nodes_override "$nodes_opt"

	rmcd=$(find_prog "${SONUMA_RMCD:-}" rmcd/rmcd rmcd) ||
		die "rmcd not found (build it: ninja -C $build; or --build DIR, \$SONUMA_RMCD)"
	srun=$(find_prog "${SONUMA_RUN:-}" experiments/sonuma-run sonuma-run) ||
		die "sonuma-run not found (ninja -C $build; or --build DIR, \$SONUMA_RUN)"
	app=$(find_prog "${!env:-}" "$sub" "$name") ||
		die "$name not found (ninja -C $build; or --build DIR, \$$env)"
	command -v timeout >/dev/null || die "timeout (coreutils) is needed"
	if ((plots)) && ! command -v gnuplot >/dev/null; then
		echo "$prog: gnuplot is not installed: no plots (apt-get install gnuplot-nox)" >&2
		plots=0
	fi
	cal_args=()
	[[ -z $calibration ]] ||
		cal_args=(--calibration "$(cd "$(dirname "$calibration")" && pwd)/$(basename "$calibration")")

	if [[ -n $run_dir ]]; then
		mkdir -p "$run_dir" || die "cannot create $run_dir"
		out=$(cd "$run_dir" && pwd)
	else
		out=$(results_dir "$out_root" "$res")
	fi
}

# driver_record NAME ARGS...: how the run was made, into out/run.txt (NAME:
# the program, with ARGS; orig_args: the driver's command line), and said.
driver_record() {
	local name=$1
	shift
	{
		echo "# $name under several timing models (experiments/apps/$prog)"
		printf 'command: %q' "$0"
		((${#orig_args[@]} == 0)) || printf ' %q' "${orig_args[@]}"
		echo
		echo "configs: ${conf_names[*]}"
		echo "$name options: $*"
		echo "calibration: ${calibration:-the default of rmcd}"
		echo "$name: $app"
	} >"$out/run.txt"
	record_env "$out/run.txt"

	echo "$prog: ${#conf_names[@]} config(s): ${conf_names[*]}"
	echo "$prog: $name $*"
	echo "$prog: results in $out"
}

# driver_run CI CSV PROGRAM ARGS...: the run of config number CI: its
# directory cdir under out, its rmc.conf, an rmcd, one PROGRAM ARGS...
# --label NAME per node; says "[k/n] NAME: N node(s) ..." (and FAILED).
# On success ok=1, row is the cluster's row of process 0's CSV, added to
# CSV (after its header, the first time); else ok=0 and failed=1.
driver_run() {
	local ci=$1 csv=$2 rc=0
	shift 2
	name=${conf_names[$ci]}
	cdir=$out/$name
	mkdir -p "$cdir"
	derive_conf "${conf_files[$ci]}" "$cdir/rmc.conf" "$nodes_opt"
	nodes=$(setting_of "$cdir/rmc.conf" nodes 2)
	printf '[%d/%d] %s: %d node(s) ...' $((ci + 1)) "${#conf_names[@]}" "$name" "$nodes"
	ts=$SECONDS
	start_rmcd "$cdir/rmc.conf" "$cdir/rmcd.log" "$nodes" "${cal_args[@]}"
	run_nodes "$nodes" "$cdir" "$timeout_s" "$@" --label "$name" || rc=$?
	stop_rmcd
	ok=0
	if ((rc != 0)); then
		echo " FAILED"
		failed=1
		return 0
	fi
	# The cluster's row (process 0 writes "all").
	if [[ ! -f $csv ]]; then
		grep -v '^#' "$cdir/node0.csv" | head -n1 >"$csv"
	fi
	row=$(grep -v '^#' "$cdir/node0.csv" | awk -F, 'NR > 1 && $2 == "all"')
	[[ -z $row ]] || echo "$row" >>"$csv"
	ok=1
}

# driver_plot NAME SUBTITLE: draws out/NAME.csv with plots/apps/NAME.gp
# into out/plots, as PNG and SVG.
driver_plot() {
	local name=$1 sub=$2 pt names fmt
	mkdir -p "$out/plots"
	pt=$(gnuplot_term)
	names=$(awk -F, 'NR > 1 { printf "%s%s", (n++ ? " " : ""), $1 }' "$out/$name.csv")
	for fmt in png svg; do
		gnuplot -e "fmt='$fmt'; pngterm='$pt'; outdir='$out/plots'; csvfile='$out/$name.csv'; dir='$out'; configs='$names'; here='$root/plots/apps'; subtitle='$sub'" \
			"$root/plots/apps/$name.gp" >"$out/plots/$name-$fmt.log" 2>&1 || {
			cat "$out/plots/$name-$fmt.log" >&2
			die "gnuplot failed on plots/apps/$name.gp (the results are in $out)"
		}
		rm -f "$out/plots/$name-$fmt.log"
	done
	echo "$prog: plots: $out/plots/$name.png (and .svg)"
}

# plot_nodes: the nodes of the runs, for the plots' subtitles.
plot_nodes() {
	if [[ -n $nodes_opt ]]; then
		echo "$nodes_opt"
	else
		setting_of "${conf_files[0]}" nodes 2
	fi
}

# check_nodes_override NODES: every config can take --nodes NODES (called
# before anything is written).
check_nodes_override() {
	local f
	[[ -n $1 ]] || return 0
	for f in "${conf_files[@]}"; do
		if sed -e 's/#.*//' "$f" | grep -qE '\bdims\b'; then
			bad_usage "--nodes: $(basename "$f")'s topology has fixed dimensions"
		fi
	done
}

# derive_conf SRC DST NODES: SRC copied to DST, with cluster.nodes set to
# NODES when NODES is not empty.
derive_conf() {
	local src=$1 dst=$2 nodes=$3
	if [[ -z $nodes ]]; then
		cp "$src" "$dst"
		return
	fi
	if sed -e 's/#.*//' "$src" | grep -qE '\bdims\b'; then
		die "$(basename "$src"): its topology has fixed dimensions; --nodes cannot change it"
	fi
	{
		echo "# $(basename "$src") with cluster.nodes = $nodes (set by $prog --nodes)"
		if sed -e 's/#.*//' "$src" | grep -qE '\bnodes[[:space:]]*[=:]'; then
			sed -E "/^[[:space:]]*cluster[[:space:]]*[=:]/ s/\bnodes[[:space:]]*[=:][[:space:]]*[0-9]+/nodes = $nodes/" "$src"
		else
			sed -E "s/^([[:space:]]*cluster[[:space:]]*[=:][[:space:]]*\{)/\1 nodes = $nodes;/" "$src"
		fi
	} >"$dst"
	[[ $(setting_of "$dst" nodes 0) == "$nodes" ]] ||
		die "$(basename "$src"): cannot set cluster.nodes (is it on the cluster line?)"
}

# alive, show_log, start_rmcd, stop_rmcd
# shellcheck source=experiments/rmcd-lib.sh
. "$here/../rmcd-lib.sh"
rundir_tag=sonuma-apps

rmcd_pid="" rmcd_log="" rundir="" app_pids=()
cleanup() {
	local rc=$? p
	for p in "${app_pids[@]}"; do
		alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	for p in "${app_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	end_rmcd
	exit "$rc"
}
exit_traps cleanup

# run_nodes NODES DIR TIMEOUT PROGRAM ARGS...: one PROGRAM per node through
# sonuma-run, each with --format json --output DIR/node<i>.json --csv
# DIR/node<i>.csv, stderr to DIR/node<i>.log.  Returns the first non-zero
# status (0 when all passed).
run_nodes() {
	local nodes=$1 dir=$2 tmo=$3 i rc first=0
	shift 3
	app_pids=()
	for ((i = 0; i < nodes; i++)); do
		SONUMA_RUNDIR=$rundir timeout -k 5 "$tmo" "$srun" -n "$i" -r "$rundir" -- "$@" \
			--format json --output "$dir/node$i.json" --csv "$dir/node$i.csv" \
			</dev/null 2>"$dir/node$i.log" &
		app_pids+=($!)
	done
	for ((i = 0; i < nodes; i++)); do
		rc=0
		wait "${app_pids[$i]}" || rc=$?
		if ((rc != 0)); then
			echo "$prog: node $i exited with status $rc$( ((rc == 124)) && echo " (ran out of its ${tmo} s: --timeout)")" >&2
			((first == 0)) && first=$rc
		fi
		[[ -s $dir/node$i.log ]] || rm -f "$dir/node$i.log"
	done
	app_pids=()
	if ((first != 0)); then
		for ((i = 0; i < nodes; i++)); do
			[[ -s $dir/node$i.log ]] && show_log "$dir/node$i.log" "node $i's messages"
		done
		if ! alive "$rmcd_pid"; then
			show_log "$rmcd_log" "rmcd log: rmcd has died"
		fi
	fi
	return "$first"
}

# results_dir ROOT SUB: a fresh ROOT/<timestamp>/SUB (printed).
results_dir() {
	local base=$1 sub=$2 stamp out n=1
	mkdir -p "$base" || die "cannot create $base"
	stamp=$(date +%Y%m%d-%H%M%S)
	out=$base/$stamp
	while [[ -e $out/$sub ]]; do
		n=$((n + 1))
		out=$base/$stamp-$n
	done
	mkdir -p "$out/$sub" || die "cannot create $out/$sub"
	(cd "$out/$sub" && pwd)
}

# gnuplot_term: pngcairo when this gnuplot has it, else png.
gnuplot_term() {
	if gnuplot -e 'set terminal' 2>&1 </dev/null | grep -qw pngcairo; then
		echo pngcairo
	else
		echo png
	fi
}

# record FILE: how the run was made (appends).
record_env() {
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
		if git -C "$root" rev-parse --short HEAD >/dev/null 2>&1; then
			local dirty
			dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
			echo "source: $(git -C "$root" rev-parse --short HEAD)$( ((dirty)) && echo " + $dirty modified files")"
		fi
		echo "cpus: $(nproc) online; load: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "rmcd: $rmcd"
		echo "sonuma-run: $srun"
	} >>"$1"
}

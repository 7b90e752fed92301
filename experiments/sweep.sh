#!/bin/bash
# SPDX-License-Identifier: MIT
#
# sweep.sh: sweeps request sizes over timing models.  For each model config,
# starts rmcd with it in a private run directory, runs sonuma-bench for
# read/write x sync/async over the sizes, stores CSV + JSON + rmcd's log + the
# config under results/<timestamp>/<config>/, stops rmcd, and at the end draws
# the plots and prints how close each model came to its target.
# See --help.  Needs bash, python3 and (for the plots) gnuplot.
set -euo pipefail

# shellcheck source=experiments/lib/opts.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/opts.sh"

usage() {
	cat <<EOF
Usage: experiments/sweep.sh [options] [CONFIG...]

Runs sonuma-bench (read and write, sync and async) over a range of sizes
under each timing-model CONFIG, one rmcd per config, and writes
  OUT/<timestamp>/<config>/{read,write}-{sync,async}.{csv,json}
  OUT/<timestamp>/<config>/<config>.conf, rmcd.log
  OUT/<timestamp>/calibration.cfg, sweep.txt, summary.txt, plots/
CONFIG is a name from experiments/configs/ (fixed-1us) or a path to a
.conf file; by default every config shipped in experiments/configs/.

Options:
  --configs LIST      configs, comma- or space-separated (same as CONFIG...)
  --max-size BYTES    largest size: powers of two from 64 B up to it
                      (default 65536)
  --sizes LIST        explicit sizes instead, e.g. 64,1024,65536
  --iters N           measured operations per size (default 10000)
  --warmup N          unmeasured operations first (default 1000)
  --outstanding N     requests in flight in async runs (default 16)
  --bench-args ARGS   more sonuma-bench options for every run, split at white
                      space, e.g. "--same-buffer" or "--threads 2 --bw"; not
                      the ones sweep.sh sets (--op, --mode, --size, ...)
  --out DIR           results root (default $root/results); the run goes
                      to DIR/<timestamp>/, DIR/latest points at it
  --run-dir DIR       write the run exactly into DIR instead
  --quick             a tiny sweep for CI: sizes 64,1024,16384 (unless
                      --sizes/--max-size), 300 iterations, 30 warm-up;
                      calibrates with --quick into the run's directory
                      (never the machine's default file) when needed
  --calibration FILE  calibration to use (calibrated into FILE if missing);
                      default \$SONUMA_CALIBRATION, else
                      \${XDG_DATA_HOME:-~/.local/share}/sonuma/calibration.cfg
  --no-calibrate      run rmcd without a calibration when there is none
  --build DIR         build tree with the programs (default $root/build);
                      \$SONUMA_RMCD, \$SONUMA_RUN, \$SONUMA_BENCH and
                      \$SONUMA_CALIBRATE override single programs; else \$PATH
  --timeout SECS      limit per sonuma-bench run (default 900)
  --no-plots          do not run plots/plot.sh at the end
  --no-summary        do not print the summary at the end
  -h, --help          this text

A config may carry one extra line for the sweep, "# sweep-target: NODE":
the node sonuma-bench (on node 0) reads and writes (default: node 1).
Exit status: 0 when every run succeeded, 1 on a failure, 2 on bad usage.
EOF
}


configs=() max_size=65536 sizes_opt="" iters="" warmup="" outstanding=16 bench_args_opt=""
out_root=$root/results run_dir="" quick=0 calibration="" no_calibrate=0
build=${SONUMA_BUILD:-$root/build} timeout_s=900 plots=1 summary=1
orig_args=("$@")

while [[ $# -gt 0 ]]; do
	case $1 in
	--configs) need_arg "$@"; IFS=', ' read -r -a more <<<"$2"; configs+=("${more[@]}"); shift 2 ;;
	--configs=*) IFS=', ' read -r -a more <<<"${1#*=}"; configs+=("${more[@]}"); shift ;;
	--max-size) need_arg "$@"; max_size=$2; shift 2 ;;
	--max-size=*) max_size=${1#*=}; shift ;;
	--sizes) need_arg "$@"; sizes_opt=$2; shift 2 ;;
	--sizes=*) sizes_opt=${1#*=}; shift ;;
	--iters) need_arg "$@"; iters=$2; shift 2 ;;
	--iters=*) iters=${1#*=}; shift ;;
	--warmup) need_arg "$@"; warmup=$2; shift 2 ;;
	--warmup=*) warmup=${1#*=}; shift ;;
	--outstanding) need_arg "$@"; outstanding=$2; shift 2 ;;
	--outstanding=*) outstanding=${1#*=}; shift ;;
	--bench-args) need_arg "$@"; bench_args_opt=$2; shift 2 ;;
	--bench-args=*) bench_args_opt=${1#*=}; shift ;;
	--out) need_arg "$@"; out_root=$2; shift 2 ;;
	--out=*) out_root=${1#*=}; shift ;;
	--run-dir) need_arg "$@"; run_dir=$2; shift 2 ;;
	--run-dir=*) run_dir=${1#*=}; shift ;;
	--quick) quick=1; shift ;;
	--calibration) need_arg "$@"; calibration=$2; shift 2 ;;
	--calibration=*) calibration=${1#*=}; shift ;;
	--no-calibrate) no_calibrate=1; shift ;;
	--build) need_arg "$@"; build=$2; shift 2 ;;
	--build=*) build=${1#*=}; shift ;;
	--timeout) need_arg "$@"; timeout_s=$2; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	--no-plots) plots=0; shift ;;
	--no-summary) summary=0; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; configs+=("$@"); break ;;
	-*) bad_usage "unknown option \"$1\"" ;;
	*) configs+=("$1"); shift ;;
	esac
done

# ---- options --------------------------------------------------------------
max_size_given=0
for a in "${orig_args[@]}"; do [[ $a == --max-size* ]] && max_size_given=1; done
in_range "$max_size" 64 1073741824 ||
	bad_usage "--max-size: 64 to 1073741824 bytes, not \"$max_size\""
if ((quick)); then
	: "${iters:=300}" "${warmup:=30}"
	[[ -z $sizes_opt && $max_size_given == 0 ]] && sizes_opt=64,1024,16384
fi
: "${iters:=10000}" "${warmup:=1000}"
in_range "$iters" 1 100000000 ||
	bad_usage "--iters: 1 to 1e8, not \"$iters\""
in_range "$warmup" 0 100000000 || bad_usage "--warmup: 0 to 1e8, not \"$warmup\""
in_range "$outstanding" 1 128 ||
	bad_usage "--outstanding: 1 to 128, not \"$outstanding\""
in_range "$timeout_s" 1 1000000 || bad_usage "--timeout: seconds, not \"$timeout_s\""
# --bench-args: sweep.sh chooses the operation, mode, sizes, counts and
# files of each run itself (its file name says what it measured), and the
# ping-pongs measure something else; sonuma-bench takes any unambiguous
# prefix of a long option, so a prefix of one of those is refused too.
# sonuma-bench judges the rest below, once it is found.
bench_args=()
read -r -a bench_args <<<"$bench_args_opt"
for a in "${bench_args[@]}"; do
	case $a in
	--) bad_usage "--bench-args: \"--\" would end sonuma-bench's options before sweep.sh's" ;;
	--*)
		name=${a%%=*} name=${name#--}
		for own in op mode outstanding target size all max-size iters warmup format output; do
			[[ $own == "$name"* ]] &&
				bad_usage "--bench-args: \"$a\" is for sweep.sh to set (--op, --mode, \
--outstanding, --target, --size, --iters, --warmup, --format, --output); use its own options"
		done
		for other in samples pingpong msg-pingpong msg-slots msg-ctx msg-offset msg-spin \
			msg-native help; do
			[[ $other == "$name"* ]] &&
				bad_usage "--bench-args: \"$a\" does not go in a sweep (--samples would be \
one file for every run; the ping-pongs and --help measure nothing of it)"
		done
		;;
	-[omdtsaMnwfh]*)
		bad_usage "--bench-args: \"$a\" is for sweep.sh to set (--op, --mode, --outstanding, \
--target, --size, --iters, --warmup, --format, --output); use its own options"
		;;
	esac
done
sizes_of "$sizes_opt" "$max_size" 32

if ((${#configs[@]} == 0)); then
	for f in "$here"/configs/*.conf; do configs+=("$f"); done
	((${#configs[@]})) || die "no configs in $here/configs"
fi
resolve_configs "$here/configs" "${configs[@]}"

biggest=0
for s in "${sizes[@]}"; do ((s > biggest)) && biggest=$s; done
for ci in "${!conf_files[@]}"; do
	mt=$(setting_of "${conf_files[$ci]}" max_transfer 1048576)
	((biggest <= mt)) ||
		bad_usage "config ${conf_names[$ci]}: size $biggest is above its cluster.max_transfer ($mt B)"
done

# ---- programs -------------------------------------------------------------
rmcd=$(find_prog "${SONUMA_RMCD:-}" rmcd/rmcd rmcd) ||
	die "rmcd not found (build it: ninja -C $build; or --build DIR, \$SONUMA_RMCD)"
srun=$(find_prog "${SONUMA_RUN:-}" experiments/sonuma-run sonuma-run) ||
	die "sonuma-run not found (ninja -C $build; or --build DIR, \$SONUMA_RUN)"
bench=$(find_prog "${SONUMA_BENCH:-}" experiments/sonuma-bench sonuma-bench) ||
	die "sonuma-bench not found (ninja -C $build; or --build DIR, \$SONUMA_BENCH)"
calibrate=$(find_prog "${SONUMA_CALIBRATE:-}" calibrate/sonuma-calibrate sonuma-calibrate) ||
	calibrate=""
command -v python3 >/dev/null || die "python3 is needed (apt-get install python3)"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
# sonuma-bench checks the rest of --bench-args now rather than in the first
# run, after rmcd and perhaps a calibration: a bad option exits 2 before it
# looks for rmcd, which it then does not find in an empty run directory of
# its own (exit 1; never the default one, where an rmcd may be serving).
if ((${#bench_args[@]})); then
	chk=$(mktemp -d "${TMPDIR:-/tmp}/sonuma-sweep-check.XXXXXX") ||
		die "cannot create a temporary directory in ${TMPDIR:-/tmp}"
	rc=0
	err=$(SONUMA_RUNDIR=$chk SONUMA_NODE=0 timeout -k 2 30 "$bench" --size "$size_list" \
		--iters "$iters" --warmup "$warmup" "${bench_args[@]}" 2>&1 >/dev/null </dev/null) || rc=$?
	rmdir "$chk"
	((rc != 2)) || bad_usage "--bench-args \"$bench_args_opt\": sonuma-bench refuses it:
$(sed -e '/^Usage: /,$d' -e '/^(see sonuma-bench --help)$/d' <<<"$err")"
fi

# ---- state and cleanup ----------------------------------------------------
# alive, show_log, start_rmcd, stop_rmcd
# shellcheck source=experiments/rmcd-lib.sh
. "$here/rmcd-lib.sh"
rundir_tag=sonuma-sweep
rmcd_pid="" rmcd_log="" rundir="" bench_pid="" t0=$SECONDS
cleanup() {
	local rc=$?
	if [[ -n $bench_pid ]] && alive "$bench_pid"; then
		kill -TERM "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	end_rmcd "ignored SIGTERM; killing it"
	exit "$rc"
}
exit_traps cleanup

elapsed() {
	local s=$((SECONDS - t0))
	if ((s >= 3600)); then
		printf '%d:%02d:%02d' $((s / 3600)) $((s / 60 % 60)) $((s % 60))
	else
		printf '%d:%02d' $((s / 60)) $((s % 60))
	fi
}

# ---- output directory -----------------------------------------------------
out=$(run_dir_of "$run_dir" "$out_root") || exit 1
[[ -n $run_dir ]] || ln -sfn "$(basename "$out")" "$out_root/latest" 2>/dev/null || true

# ---- calibration ----------------------------------------------------------
default_cal=${SONUMA_CALIBRATION:-${XDG_DATA_HOME:-${HOME:-.}/.local/share}/sonuma/calibration.cfg}
cal_used=""
cal_note=""
if [[ -n $calibration ]]; then
	cal_target=$calibration
elif ((quick)) && [[ ! -f $default_cal ]]; then
	cal_target=$out/calibration.cfg # a rough --quick calibration stays with the run
else
	cal_target=$default_cal
fi
if [[ -f $cal_target ]]; then
	cal_used=$cal_target
	cal_note="existing calibration $cal_target"
elif ((no_calibrate)); then
	cal_note="none (--no-calibrate): rmcd runs uncalibrated"
	echo "$prog: no calibration at $cal_target; running rmcd uncalibrated (--no-calibrate)" >&2
else
	[[ -n $calibrate ]] ||
		die "no calibration at $cal_target and sonuma-calibrate is not built (ninja -C $build), \
nor in \$PATH; run it once, or pass --no-calibrate to run uncalibrated"
	qflag=()
	((quick)) && qflag=(--quick)
	echo "$prog: no calibration at $cal_target: calibrating this machine first" \
		"($calibrate${qflag:+ ${qflag[*]}} -o $cal_target)"
	mkdir -p "$(dirname "$cal_target")"
	if ! timeout -k 5 600 "$calibrate" "${qflag[@]}" --rmcd "$rmcd" -o "$cal_target" \
		>"$out/calibrate.log" 2>&1; then
		show_log "$out/calibrate.log" "sonuma-calibrate output"
		die "sonuma-calibrate failed (its output: $out/calibrate.log); pass --no-calibrate to run uncalibrated"
	fi
	[[ -f $cal_target ]] || die "sonuma-calibrate did not write $cal_target"
	cal_used=$cal_target
	cal_note="calibrated now${qflag:+ with --quick} into $cal_target"
fi
cal_args=()
if [[ -n $cal_used ]]; then
	cal_used=$(cd "$(dirname "$cal_used")" && pwd)/$(basename "$cal_used")
	cal_args=(--calibration "$cal_used")
	[[ $cal_used != "$out/calibration.cfg" ]] && cp "$cal_used" "$out/calibration.cfg"
fi

# ---- record how the sweep was run -----------------------------------------
runs=("read sync" "read async" "write sync" "write async")
total=$((${#conf_names[@]} * ${#runs[@]}))
{
	echo "# sonuma sweep, $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
	printf 'command: %q' "$0"; printf ' %q' "${orig_args[@]}"; echo
	echo "configs: ${conf_names[*]}"
	echo "sizes: $size_list"
	echo "iters: $iters; warmup: $warmup; async outstanding: $outstanding"
	echo "sonuma-bench args: ${bench_args[*]:-(none)}"
	echo "calibration: $cal_note"
	echo "rmcd: $rmcd"
	echo "sonuma-run: $srun"
	echo "sonuma-bench: $bench"
	if git -C "$root" rev-parse --short HEAD >/dev/null 2>&1; then
		dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
		echo "source: $(git -C "$root" rev-parse --short HEAD)$( ((dirty)) && echo " + $dirty modified files")"
	fi
	echo "cpus: $(nproc) online; load: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/sweep.txt"

echo "$prog: ${#conf_names[@]} config(s) x ${#runs[@]} runs, sizes $size_list, $iters iterations" \
	"(+$warmup warm-up), async with $outstanding outstanding"
echo "$prog: results in $out"
((${#bench_args[@]})) && echo "$prog: sonuma-bench also gets: ${bench_args[*]}"
echo "$prog: calibration: $cal_note"

# ---- rmcd -----------------------------------------------------------------
target_of() {
	sed -n 's/^#[[:space:]]*sweep-target:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$1" | head -n1
}

# ---- the sweep ------------------------------------------------------------
k=0
for ci in "${!conf_names[@]}"; do
	name=${conf_names[$ci]} conf=${conf_files[$ci]}
	cdir=$out/$name
	mkdir -p "$cdir"
	cp "$conf" "$cdir/$name.conf"
	nodes=$(setting_of "$conf" nodes 2)
	target=$(target_of "$conf")
	target_args=()
	[[ -n $target ]] && target_args=(--target "$target")
	start_rmcd "$conf" "$cdir/rmcd.log" "$nodes" "${cal_args[@]}"
	for r in "${runs[@]}"; do
		read -r op mode <<<"$r"
		k=$((k + 1))
		base=$cdir/$op-$mode
		printf '[%d/%d] %s: %s %s ... (elapsed %s)' "$k" "$total" "$name" "$mode" "$op" "$(elapsed)"
		mode_args=(--mode "$mode")
		[[ $mode == async ]] && mode_args+=(--outstanding "$outstanding")
		ts=$SECONDS rc=0
		# In the background, so that a signal reaches our trap at once.
		SONUMA_RUNDIR=$rundir timeout -k 5 "$timeout_s" "$srun" -n 0 -r "$rundir" -- \
			"$bench" --op "$op" "${mode_args[@]}" "${target_args[@]}" --size "$size_list" \
			--iters "$iters" --warmup "$warmup" --format json --output "$base.json" \
			"${bench_args[@]}" </dev/null 2>"$base.log" &
		bench_pid=$!
		wait "$bench_pid" || rc=$?
		bench_pid=""
		if ((rc != 0)); then
			echo " FAILED"
			((rc == 124)) && echo "$prog: sonuma-bench ran out of its ${timeout_s} s (--timeout)" >&2
			show_log "$base.log" "sonuma-bench errors"
			sleep 0.2
			if ! alive "$rmcd_pid"; then
				show_log "$rmcd_log" "rmcd log: rmcd has died"
				wait "$rmcd_pid" 2>/dev/null || true
				rmcd_pid=""
			fi
			die "$name: $mode $op: sonuma-bench failed (status $rc); see $base.log and $rmcd_log"
		fi
		[[ -s $base.log ]] || rm -f "$base.log"
		python3 "$here/summary.py" tocsv "$base.json" ||
			die "$name: $mode $op: cannot turn $base.json into CSV"
		echo " done in $((SECONDS - ts)) s"
	done
	stop_rmcd
done
echo "$prog: all $total runs done in $(elapsed)"

if ((plots)); then
	echo "$prog: drawing the plots"
	"$root/plots/plot.sh" "$out" || die "plots/plot.sh failed (the results are in $out)"
fi
if ((summary)); then
	echo
	python3 "$here/summary.py" summary "$out" --elapsed $((SECONDS - t0)) ||
		die "the summary failed (the results are in $out)"
fi

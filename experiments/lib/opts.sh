# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2154
#
# opts.sh: what the experiment scripts (sweep.sh, soak.sh, compare-ucx.sh,
# apps/kv.sh, apps/pagerank.sh, plots/plot.sh) share to read their options
# and find their programs.  Sourced, first thing, not run: it sets here (the
# running script's directory), root (the source tree) and prog (the
# script's name, in messages).  The caller defines usage; it may set
# usage_line, the one line bad_usage prints instead of the whole usage, and
# build (the build tree find_prog looks in).

here=$(cd "$(dirname "${BASH_SOURCE[-1]}")" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prog=$(basename "${BASH_SOURCE[-1]}")

# die MESSAGE...: says why on stderr and exits 1.
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

# bad_usage MESSAGE...: says why, then how to call, and exits 2.
bad_usage() {
	printf '%s: %s\n' "$prog" "$*" >&2
	if [[ -n ${usage_line:-} ]]; then
		printf '%s\n' "$usage_line" >&2
	else
		usage >&2
	fi
	exit 2
}

# need_arg OPTION "$@": the option has a value after it.
need_arg() { [[ $# -ge 2 ]] || bad_usage "$1 needs a value"; }

# take_value "$@": when the first word is one of the options of the
# caller's value_opts (pairs: OPTION VARIABLE), the next is that option's
# value, into VARIABLE; nshift is then 2.  Fails for any other word.
take_value() {
	local i
	for ((i = 0; i < ${#value_opts[@]}; i += 2)); do
		if [[ $1 == "${value_opts[i]}" ]]; then
			need_arg "$@"
			printf -v "${value_opts[i + 1]}" '%s' "$2"
			nshift=2
			return 0
		fi
	done
	return 1
}

# parse_value_opts "$@": a command line of value options only (value_opts)
# and -h/--help; anything else is bad usage.
parse_value_opts() {
	while [[ $# -gt 0 ]]; do
		take_value "$@" && { shift 2; continue; }
		case $1 in
		-h | --help) usage; exit 0 ;;
		*) bad_usage "unknown option \"$1\"" ;;
		esac
	done
}

# is_uint VALUE: a whole number.
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
# is_num VALUE: a non-negative decimal number (digits, maybe a fraction).
is_num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
# in_range VALUE MIN MAX: VALUE is a whole number from MIN to MAX.
in_range() { [[ $1 =~ ^[0-9]{1,15}$ ]] && (($1 >= $2 && $1 <= $3)); }

# find_prog OVERRIDE BUILD-SUBPATH NAME: the override (which must be an
# executable), else the build tree's program, else NAME on $PATH; fails
# when there is none.
find_prog() {
	local override=$1 sub=$2 name=$3
	if [[ -n $override ]]; then
		[[ -x $override ]] || die "$override: not an executable"
		echo "$override"
	elif [[ -x $build/$sub ]]; then
		echo "$build/$sub"
	elif command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
	else
		return 1
	fi
}

# setting_of FILE KEY DEFAULT: an integer setting of a config (comments
# dropped), or DEFAULT when the config does not set it.
setting_of() {
	local n
	n=$(sed -e 's/#.*//' -e 's://.*::' "$1" | grep -oE "\b$2[[:space:]]*[=:][[:space:]]*[0-9]+" |
		head -n1 | grep -oE '[0-9]+$' || true)
	echo "${n:-$3}"
}

# run_dir_of RUN_DIR ROOT: where a run writes, printed as an absolute path:
# RUN_DIR when given (created), else a fresh ROOT/<timestamp> (with -2, -3
# ... when that is taken).
run_dir_of() {
	local dir=$1 root=$2 stamp n=1
	if [[ -n $dir ]]; then
		mkdir -p "$dir" || die "cannot create $dir"
	else
		mkdir -p "$root" || die "cannot create $root"
		stamp=$(date +%Y%m%d-%H%M%S)
		dir=$root/$stamp
		while ! mkdir "$dir" 2>/dev/null; do
			[[ -e $dir ]] || die "cannot create $dir"
			n=$((n + 1))
			dir=$root/$stamp-$n
		done
	fi
	(cd "$dir" && pwd)
}

# resolve_configs DIR NAME...: fills conf_files[] and conf_names[] from
# paths, or names of configs in DIR (with or without .conf).
resolve_configs() {
	local dir=$1 c f name n
	shift
	conf_files=() conf_names=()
	for c in "$@"; do
		[[ -z $c ]] && continue
		if [[ -f $c ]]; then
			f=$c
		elif [[ -f $dir/$c.conf ]]; then
			f=$dir/$c.conf
		elif [[ -f $dir/$c ]]; then
			f=$dir/$c
		else
			bad_usage "config \"$c\": no such file, nor $dir/$c.conf"
		fi
		name=$(basename "$f" .conf)
		for n in "${conf_names[@]}"; do
			[[ $n == "$name" ]] && bad_usage "config \"$name\" given twice"
		done
		conf_files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
		conf_names+=("$name")
	done
	((${#conf_names[@]})) || bad_usage "no config given"
}

# sizes_of LIST MAX_SIZE [MAX_COUNT]: fills sizes[] from LIST (--sizes,
# comma- or space-separated, 64 B to 1 GiB each, at most MAX_COUNT of them
# when given), or with the powers of two from 64 B to MAX_SIZE when LIST is
# empty; size_list is the same, comma-separated.
sizes_of() {
	local list=$1 max_size=$2 max_count=${3:-} s
	sizes=()
	if [[ -n $list ]]; then
		IFS=', ' read -r -a sizes <<<"$list"
		[[ -z $max_count ]] || ((${#sizes[@]} >= 1 && ${#sizes[@]} <= max_count)) ||
			bad_usage "--sizes: 1 to $max_count sizes"
		for s in "${sizes[@]}"; do
			in_range "$s" 64 1073741824 ||
				bad_usage "--sizes: sizes from 64 B to 1 GiB, not \"$s\""
		done
	else
		for ((s = 64; s <= max_size; s *= 2)); do sizes+=("$s"); done
	fi
	size_list=$(IFS=,; echo "${sizes[*]}")
}

#!/bin/bash
# SPDX-License-Identifier: MIT
# The manual pages: every page renders without a warning, every .so link
# points at a page, every public call of the headers and every program
# has a page.  Usage: check.sh MANDIR HEADER...
set -uo pipefail

dir=$1
shift
command -v groff >/dev/null || { echo "SKIP: groff is not installed (scripts/deps.sh --test)"; exit 77; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for page in "$dir"/*.[0-9]; do
	name=$(basename "$page")
	if head -n1 "$page" | grep -q '^\.so '; then
		target=$(head -n1 "$page" | sed 's/^\.so man[0-9]\///')
		[[ -f $dir/$target ]] || bad "$name: .so points at $target, which is not here"
		continue
	fi
	out=$(groff -ww -man -z "$page" 2>&1)
	[[ -z $out ]] || bad "$name: groff: $out"
	if command -v man >/dev/null; then
		out=$(MANWIDTH=80 man --warnings -l -Tutf8 "$page" 2>&1 >/dev/null)
		[[ -z $out ]] || bad "$name: man: $out"
	fi
	grep -q '^\.SH NAME' "$page" && grep -q '^\.SH SYNOPSIS' "$page" &&
		grep -q '^\.SH DESCRIPTION' "$page" || bad "$name: lacks NAME, SYNOPSIS or DESCRIPTION"
done

# Every public call (not the rmc__ internals) of the headers.
calls=$(sed -n 's/^\(static inline \)\{0,1\}[a-z_0-9 ]*[ *]\(\(rmc\|kal\)_[a-z_0-9]*\)(.*/\2/p' "$@" |
	grep -v '^rmc__' | sort -u)
[[ -n $calls ]] || bad "no calls found in $*"
for c in $calls; do
	[[ -f $dir/$c.3 ]] || bad "$c has no page ($c.3)"
done

for p in rmcd sonuma-run sonuma-calibrate sonuma-bench bench_server bench_sync bench_async \
	sonuma-soak sonuma-kv sonuma-pagerank sweep.sh fidelity.sh compare-ucx.sh; do
	[[ -f $dir/$p.1 ]] || bad "$p has no page ($p.1)"
done
((fail)) && exit 1
echo "ok: $(ls "$dir"/*.[0-9] | wc -l) pages, $(wc -w <<<"$calls") calls"

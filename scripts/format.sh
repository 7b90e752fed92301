#!/bin/bash
# Formats every C and C++ file of the tree with the project's .clang-format.
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; list the files that differ, exit 1 if any
# Files come from git when the tree is a checkout, from a walk of the tree otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

usage() { sed -n '2,5s/^# \{0,1\}//p' "$0"; }
check=0
case "${1:-}" in
"") ;;
--check) check=1 ;;
-h | --help) usage; exit 0 ;;
*) echo "format.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
esac

cf=$(command -v clang-format || command -v clang-format-14 || true)
[[ -n "$cf" ]] || { echo "format.sh: clang-format not found (Debian package clang-format)" >&2; exit 2; }

if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files -- '*.c' '*.h' '*.cc' '*.cpp')
else
	mapfile -t files < <(find . -path ./build\* -prune -o -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' \) -print | sed 's|^\./||' | sort)
fi
[[ ${#files[@]} -gt 0 ]] || { echo "format.sh: no source files found under $root" >&2; exit 2; }

if [[ $check -eq 0 ]]; then
	"$cf" -i --style=file "${files[@]}"
	exit 0
fi
bad=0
for f in "${files[@]}"; do
	if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
		echo "format.sh: $f differs from .clang-format (run scripts/format.sh)" >&2
		bad=$((bad + 1))
	fi
done
if [[ $bad -gt 0 ]]; then
	echo "format.sh: $bad of ${#files[@]} files need formatting" >&2
	exit 1
fi
echo "format.sh: ${#files[@]} files match .clang-format"

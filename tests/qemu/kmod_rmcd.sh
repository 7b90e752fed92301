#!/bin/sh
# SPDX-License-Identifier: MIT
#
# kmod_rmcd.sh: rmc.ko with rmcd, in one QEMU guest (software emulation, two
# NUMA nodes).  Builds the module with kbuild (-Werror) as kmod.sh does, and
# the original's C++ programs (tests/original) with plain g++ against
# libsonuma; the guest (kmod_rmcd_guest.sh as /init) then
#   - loads "rmc.ko mynid=0" and starts "rmcd 2 0" and "rmcd 2 1", which
#     must say that they registered their contexts through /dev/rmc;
#   - runs the original's flow (bench_server on node 1; bench_sync and
#     bench_async, reads and writes, on node 0) and checks every value as
#     tests/original/flow.sh does;
#   - runs kmod_rmcd_test: a malloc'ed buffer at an odd address as a local
#     buffer (used in place), and malloc'ed memory as node 1's context that
#     outlives its program, read from node 0 and mapped again on node 1;
#   - stops both rmcds (SIGTERM: exit 0), removes the module, reads dmesg.
# Passes (exit 0) only when the guest prints every expected
#   === GUEST: PASS <name>
# line and no "=== GUEST: FAIL"; exit 1 otherwise (also when a tool, the
# headers or the kernel are missing: this test never passes by skipping).
#
# Usage (meson passes the paths; by hand, --build-dir fills them in):
#   kmod_rmcd.sh --kmod-src DIR --rmcd P --libsonuma P --original DIR
#                --include DIR... --guest-test P [--keep DIR]
#   kmod_rmcd.sh --build-dir /path/to/build [--keep DIR]
#
# Needs make, gcc, g++, linux-headers-amd64 and the matching
# linux-image-amd64, kmod (modinfo), qemu-system-x86_64, busybox (static),
# cpio, gzip (CI: scripts/deps.sh --test).  Takes about a minute (TCG).

set -u
. "$(dirname "$0")/guest.sh"

QEMU_TIMEOUT=240        # seconds for boot + guest tests + power-off
BUILD_TIMEOUT=120       # seconds for kbuild
GUEST_WAIT=30           # seconds the guest waits for an rmcd to do something
SEED=2718               # ctx-own's pattern (kmod_rmcd_test)

kmod_src='' rmcd='' libsonuma='' original='' incs='' guest_test='' keep='' build=''

die() {
	echo "kmod_rmcd.sh: FAIL: $*" >&2
	exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
while [ $# -gt 0 ]; do
	case $1 in
	--kmod-src) kmod_src=$2; shift 2 ;;
	--rmcd) rmcd=$2; shift 2 ;;
	--libsonuma) libsonuma=$2; shift 2 ;;
	--original) original=$2; shift 2 ;;
	--include) incs="$incs -I$2"; shift 2 ;;
	--guest-test) guest_test=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--build-dir) build=$2; shift 2 ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) die "unknown argument \"$1\" (see --help)" ;;
	esac
done

if [ -n "$build" ]; then
	: "${rmcd:=$build/rmcd/rmcd}"
	: "${libsonuma:=$build/libsonuma/libsonuma.so}"
	: "${guest_test:=$build/tests/qemu/kmod_rmcd_test}"
	[ -n "$incs" ] || incs="-I$here/../../include"
fi
[ -n "$kmod_src" ] || kmod_src=$(cd "$here/../../kmod" 2>/dev/null && pwd)
[ -n "$original" ] || original=$(cd "$here/../original" 2>/dev/null && pwd)

# ---- what the host must have ----------------------------------------------
for v in rmcd guest_test; do
	eval "p=\$$v"
	[ -n "$p" ] || die "--$(echo $v | tr _ -) not given (see --help)"
	[ -x "$p" ] || die "$v: $p is not an executable (build the project first)"
done
[ -n "$libsonuma" ] && [ -f "$libsonuma" ] ||
	die "--libsonuma: \"$libsonuma\" is not a file (build the project first)"
[ -n "$incs" ] || die "--include not given (see --help)"
for f in bench_server.cpp bench_sync.cpp bench_async.cpp nodes_up.cpp check_values.awk; do
	[ -f "$original/$f" ] || die "--original: no $f in \"$original\""
done
[ -f "$kmod_src/Kbuild" ] && [ -f "$kmod_src/Makefile" ] ||
	die "--kmod-src: no Kbuild and Makefile in \"$kmod_src\""
[ -f "$here/kmod_rmcd_guest.sh" ] || die "no kmod_rmcd_guest.sh beside $0"

QEMU=$(command -v qemu-system-x86_64) ||
	die "qemu-system-x86_64 not found: install qemu-system-x86 (scripts/deps.sh --test)"
BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
	[ -x "$b" ] && { BUSYBOX=$b; break; }
done
[ -n "$BUSYBOX" ] || die "busybox not found: install busybox-static (scripts/deps.sh --test)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is dynamically linked: install busybox-static (scripts/deps.sh --test)"
fi
for t in cpio gzip ldd timeout make gcc g++ od; do
	command -v $t >/dev/null || die "$t not found (scripts/deps.sh --test)"
done
MODINFO=$(PATH=$PATH:/sbin:/usr/sbin command -v modinfo) ||
	die "modinfo not found: install kmod (scripts/deps.sh --test)"

# The module is built for the installed headers; the guest boots exactly
# that kernel (see kmod.sh).
kver=$(ls /usr/src 2>/dev/null | sed -n 's/^linux-headers-\(.*-amd64\)$/\1/p' | sort -V | tail -n 1)
[ -n "$kver" ] || die "no /usr/src/linux-headers-*-amd64: install linux-headers-amd64 (scripts/deps.sh --test)"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] ||
	die "no readable $kernel for the headers $kver: install the matching linux-image-amd64 (scripts/deps.sh --test)"
rel=$(od -An -tu2 -j 526 -N 2 "$kernel" | tr -d ' ')
image_ver=$(dd if="$kernel" bs=1 skip=$((rel + 512)) count=128 2>/dev/null | tr '\0' '\n' |
	head -n 1 | awk '{ print $1 }')
[ "$image_ver" = "$kver" ] || die "$kernel says it is \"$image_ver\", not $kver"

work=$(mktemp -d "${TMPDIR:-/tmp}/sonuma-kmod-rmcd.XXXXXX") || die "mktemp failed"
cleanup() {
	if [ -n "$keep" ]; then
		mkdir -p "$keep" && cp -a "$work"/. "$keep"/ && echo "kmod_rmcd.sh: kept $work in $keep"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
root=$work/root
log=$work/serial.log

# ---- the module --------------------------------------------------------------
if ! timeout $BUILD_TIMEOUT make -s -C "$kmod_src" KVER="$kver" BUILD_DIR="$work/kbuild" \
	>"$work/kbuild.log" 2>&1; then
	cat "$work/kbuild.log" >&2
	die "kbuild failed (log above)"
fi
ko=$work/kbuild/rmc.ko
[ -f "$ko" ] || die "kbuild made no rmc.ko"
if grep -qi 'warning:' "$work/kbuild.log"; then
	cat "$work/kbuild.log" >&2
	die "kbuild printed warnings"
fi
vermagic=$("$MODINFO" -F vermagic "$ko") || die "modinfo $ko failed"
[ "${vermagic%% *}" = "$kver" ] || die "rmc.ko's vermagic \"$vermagic\" is not for $kver"

# ---- the original's programs, built as its Makefile did ---------------------
# The rpath lets them find libsonuma at its build path, where the guest has
# it too.
libdir=$(cd "$(dirname "$libsonuma")" && pwd)
mkdir -p "$work/original" || die "cannot create $work/original"
for p in bench_server bench_sync bench_async nodes_up; do
	# shellcheck disable=SC2086 # $incs is a list of -I options
	g++ $incs -o "$work/original/$p" "$original/$p.cpp" -L"$libdir" -lsonuma -lrt \
		-Wl,-rpath,"$libdir" >"$work/g++.log" 2>&1 || {
		cat "$work/g++.log" >&2
		die "g++ $p.cpp failed (log above)"
	}
done

# ---- the initramfs ---------------------------------------------------------
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/etc" \
	"$root/var" || die "cannot create $root"
cp "$BUSYBOX" "$root/bin/busybox" || die "cannot copy busybox"
for a in $("$BUSYBOX" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
ln -s bin "$root/sbin"
cp "$ko" "$root/rmc.ko" || die "cannot copy rmc.ko"
cp "$original/check_values.awk" "$root/etc/check_values.awk" || die "cannot copy check_values.awk"
cp "$here/kmod_rmcd_guest.sh" "$root/init" && chmod +x "$root/init" || die "cannot install /init"
# What the guest script needs to know, as shell assignments.
printf 'GUEST_WAIT=%s\nSEED=%s\n' "$GUEST_WAIT" "$SEED" >"$root/etc/kmod_rmcd.env" ||
	die "cannot write the guest's settings"

# A program goes in at its own path (its rpath still finds libsonuma) with a
# link in /bin; each library ldd lists goes in at the path ldd names.
add_lib() {
	[ -e "$root$1" ] && return 0
	mkdir -p "$root$(dirname "$1")" && cp -L "$1" "$root$1" ||
		die "cannot copy library $1"
}
add_prog() { # add_prog NAME PATH
	src=$(readlink -f "$2") || die "$2: no such file"
	mkdir -p "$root$(dirname "$src")" && cp "$src" "$root$src" || die "cannot copy $src"
	ln -sf "$src" "$root/bin/$1"
	deps=$(ldd "$src" 2>&1)
	case $deps in
	*"not a dynamic executable"*) return 0 ;;
	esac
	echo "$deps" | grep -q 'not found' && die "$src: missing libraries:
$(echo "$deps" | grep 'not found')"
	for lib in $(echo "$deps" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		add_lib "$lib"
	done
}
add_prog rmcd "$rmcd"
add_prog kmod_rmcd_test "$guest_test"
for p in bench_server bench_sync bench_async nodes_up; do
	add_prog $p "$work/original/$p"
done

(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initrd.gz" ||
	die "cannot pack the initramfs"

# ---- boot ------------------------------------------------------------------
expect="insmod rmcd-start rmcd-dev nodes-up
	flow-server flow-sync-r flow-sync-w flow-async-r flow-async-w
	ctx-own ctx-swap peer-reattach lbuff-inplace ctx-remote-read lbuff-write ctx-map
	rmcd-exit rmcd-log rmmod dmesg"

echo "kmod_rmcd.sh: kernel $kver, rmc.ko vermagic $vermagic, initramfs $(($(wc -c <"$work/initrd.gz") / 1024)) KiB"
guest_boot

# ---- verdict ---------------------------------------------------------------
guest_verdict kmod_rmcd.sh "$expect"
exit 0

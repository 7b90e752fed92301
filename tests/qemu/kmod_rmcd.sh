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

prog=kmod_rmcd.sh
kmod_src='' rmcd='' libsonuma='' original='' incs='' guest_test='' keep='' build=''

here=$(cd "$(dirname "$0")" && pwd)
guest_args "
	--kmod-src kmod_src
	--rmcd rmcd rmcd/rmcd
	--libsonuma libsonuma libsonuma/libsonuma.so
	--original original
	--include incs+-I
	--guest-test guest_test tests/qemu/kmod_rmcd_test" "$@"
if [ -n "$build" ] && [ -z "$incs" ]; then
	incs="-I$here/../../include"
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

guest_tools make gcc g++ od
guest_headers_kernel
guest_workdir kmod-rmcd

# ---- the module --------------------------------------------------------------
guest_kmod

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
guest_root var
cp "$ko" "$root/rmc.ko" || die "cannot copy rmc.ko"
cp "$original/check_values.awk" "$root/etc/check_values.awk" || die "cannot copy check_values.awk"
cp "$here/kmod_rmcd_guest.sh" "$root/init" && chmod +x "$root/init" || die "cannot install /init"
# What the guest script needs to know, as shell assignments.
printf 'GUEST_WAIT=%s\nSEED=%s\n' "$GUEST_WAIT" "$SEED" >"$root/etc/kmod_rmcd.env" ||
	die "cannot write the guest's settings"

guest_add_prog rmcd "$rmcd"
guest_add_prog kmod_rmcd_test "$guest_test"
for p in bench_server bench_sync bench_async nodes_up; do
	guest_add_prog $p "$work/original/$p"
done
guest_pack

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

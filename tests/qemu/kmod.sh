#!/bin/sh
# SPDX-License-Identifier: MIT
#
# kmod.sh: builds rmc.ko with kbuild (-Werror) against the installed
# linux-headers-*-amd64, in a temporary directory, checks that its vermagic
# is the version of the kernel that will boot, and loads it in a QEMU guest
# (software emulation, two NUMA nodes) where kmod_test checks /dev/rmc:
# INFO, registration shared with another process, every bad ioctl, who may
# open and map, RLIMIT_MEMLOCK, random ioctls, NUMA placement, and rmmod.
# Passes (exit 0) only when the guest prints every expected
#   === GUEST: PASS <name>
# line and no "=== GUEST: FAIL"; exit 1 otherwise (also when a tool, the
# headers or the kernel are missing: this test never passes by skipping).
#
# Usage (meson passes the paths; by hand, --build-dir fills them in):
#   kmod.sh --kmod-src DIR --kmod-test P [--keep DIR]
#   kmod.sh --build-dir /path/to/build [--kmod-src DIR] ...
#
# Needs make, gcc, linux-headers-amd64 and the matching linux-image-amd64,
# kmod (modinfo), qemu-system-x86_64, busybox (static), cpio, gzip
# (CI: scripts/deps.sh --test).  Takes about 15 s (TCG, 2 vCPUs).

set -u
. "$(dirname "$0")/guest.sh"

QEMU_TIMEOUT=120        # seconds for boot + guest tests + power-off
BUILD_TIMEOUT=120       # seconds for kbuild
GUEST_GID=4242          # the module's gid= parameter in the guest

prog=kmod.sh
kmod_src='' kmod_test='' keep='' build=''

guest_args "
	--kmod-src kmod_src
	--kmod-test kmod_test tests/qemu/kmod_test" "$@"
[ -n "$kmod_src" ] || kmod_src=$(cd "$(dirname "$0")/../../kmod" 2>/dev/null && pwd)

# ---- what the host must have ----------------------------------------------
[ -n "$kmod_test" ] || die "--kmod-test not given (see --help)"
[ -x "$kmod_test" ] || die "kmod_test: $kmod_test is not an executable (build the project first)"
[ -f "$kmod_src/Kbuild" ] && [ -f "$kmod_src/Makefile" ] ||
	die "--kmod-src: no Kbuild and Makefile in \"$kmod_src\""

guest_tools make gcc od
guest_headers_kernel
guest_workdir kmod

# ---- the module --------------------------------------------------------------
t0=$(date +%s.%N)
guest_kmod
t1=$(date +%s.%N)
echo "kmod.sh: rmc.ko built for $kver in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (vermagic $vermagic)"

# ---- the initramfs ---------------------------------------------------------
guest_root
cp "$ko" "$root/rmc.ko" || die "cannot copy rmc.ko"
# kmod_test is linked statically by meson; a sanitizer build links it
# dynamically, with its libraries.
guest_add_prog kmod_test "$kmod_test"

guest_init "GUEST_GID=$GUEST_GID"
cat >>"$root/init" <<'EOF'

# From here on the kernel log is the module's: the checks below read it.
dmesg -c >/dev/null
if out=$(insmod /rmc.ko mynid=1 gid=$GUEST_GID 2>&1); then
	pass insmod
	kmod_test $GUEST_GID
	echo "guest: kmod_test exited $? at $(now) s"
	if grep -q '^rmc ' /proc/modules; then
		fail rmmod-gone "rmc is still loaded after kmod_test"
		rmmod rmc
	fi
else
	fail insmod "insmod rmc.ko mynid=1 gid=$GUEST_GID: $out"
fi

dmesg >/tmp/dmesg
echo "guest: kernel log since insmod:"
show dmesg </tmp/dmesg
bad=$(grep -E 'WARN|BUG|Oops|leak|Call Trace|general protection' /tmp/dmesg | head -n 3)
if [ -n "$bad" ]; then
	fail dmesg "$(echo "$bad" | tr '\n' ' ')"
elif ! grep -q 'rmc: node 1 ready' /tmp/dmesg; then
	fail dmesg "no \"rmc: node 1 ready\" line: is this the kernel log since insmod?"
else
	pass dmesg
fi

echo "=== GUEST: END at $(now) s"
poweroff -f
EOF

guest_pack

# ---- boot ------------------------------------------------------------------
expect="insmod dev-node info register-share unregister allocators bad-ioctls grant-off-xen
	perm-open-refused perm-open-group perm-map memlock random-ioctls numa unpin rmmod-busy rmmod
	dmesg"

echo "kmod.sh: kernel $kver, QEMU $("$QEMU" --version | head -n 1 | awk '{print $4}'), initramfs $(($(wc -c <"$work/initrd.gz") / 1024)) KiB"
guest_boot

# ---- verdict ---------------------------------------------------------------
guest_verdict kmod.sh "$expect"
exit 0

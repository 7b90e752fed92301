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

kmod_src='' kmod_test='' keep='' build=''

die() {
	echo "kmod.sh: FAIL: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--kmod-src) kmod_src=$2; shift 2 ;;
	--kmod-test) kmod_test=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--build-dir) build=$2; shift 2 ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) die "unknown argument \"$1\" (see --help)" ;;
	esac
done

if [ -n "$build" ]; then
	: "${kmod_test:=$build/tests/qemu/kmod_test}"
fi
[ -n "$kmod_src" ] || kmod_src=$(cd "$(dirname "$0")/../../kmod" 2>/dev/null && pwd)

# ---- what the host must have ----------------------------------------------
[ -n "$kmod_test" ] || die "--kmod-test not given (see --help)"
[ -x "$kmod_test" ] || die "kmod_test: $kmod_test is not an executable (build the project first)"
[ -f "$kmod_src/Kbuild" ] && [ -f "$kmod_src/Makefile" ] ||
	die "--kmod-src: no Kbuild and Makefile in \"$kmod_src\""

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
for t in cpio gzip ldd timeout make gcc od; do
	command -v $t >/dev/null || die "$t not found (scripts/deps.sh --test)"
done
MODINFO=$(PATH=$PATH:/sbin:/usr/sbin command -v modinfo) ||
	die "modinfo not found: install kmod (scripts/deps.sh --test)"

# The module is built for the installed headers; the guest boots exactly
# that kernel.  Never the running kernel's version: that is the host's.
kver=$(ls /usr/src 2>/dev/null | sed -n 's/^linux-headers-\(.*-amd64\)$/\1/p' | sort -V | tail -n 1)
[ -n "$kver" ] || die "no /usr/src/linux-headers-*-amd64: install linux-headers-amd64 (scripts/deps.sh --test)"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] ||
	die "no readable $kernel for the headers $kver: install the matching linux-image-amd64 (scripts/deps.sh --test)"

# The version string inside the bzImage (setup header: kernel_version at
# 0x20e is an offset from 0x200), so that a renamed image cannot fool us.
rel=$(od -An -tu2 -j 526 -N 2 "$kernel" | tr -d ' ')
image_ver=$(dd if="$kernel" bs=1 skip=$((rel + 512)) count=128 2>/dev/null | tr '\0' '\n' |
	head -n 1 | awk '{ print $1 }')
[ "$image_ver" = "$kver" ] || die "$kernel says it is \"$image_ver\", not $kver"

work=$(mktemp -d "${TMPDIR:-/tmp}/sonuma-kmod.XXXXXX") || die "mktemp failed"
cleanup() {
	if [ -n "$keep" ]; then
		mkdir -p "$keep" && cp -a "$work"/. "$keep"/ && echo "kmod.sh: kept $work in $keep"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
root=$work/root
log=$work/serial.log

# ---- the module --------------------------------------------------------------
t0=$(date +%s.%N)
if ! timeout $BUILD_TIMEOUT make -s -C "$kmod_src" KVER="$kver" BUILD_DIR="$work/kbuild" \
	>"$work/kbuild.log" 2>&1; then
	cat "$work/kbuild.log" >&2
	die "kbuild failed (log above)"
fi
ko=$work/kbuild/rmc.ko
[ -f "$ko" ] || die "kbuild made no rmc.ko"
grep -q -- '-Werror' "$kmod_src/Kbuild" || die "$kmod_src/Kbuild does not build with -Werror"
if grep -qi 'warning:' "$work/kbuild.log"; then
	cat "$work/kbuild.log" >&2
	die "kbuild printed warnings"
fi
vermagic=$("$MODINFO" -F vermagic "$ko") || die "modinfo $ko failed"
[ "${vermagic%% *}" = "$kver" ] || die "rmc.ko's vermagic \"$vermagic\" is not for $kver"
t1=$(date +%s.%N)
echo "kmod.sh: rmc.ko built for $kver in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (vermagic $vermagic)"

# ---- the initramfs ---------------------------------------------------------
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/etc" ||
	die "cannot create $root"
cp "$BUSYBOX" "$root/bin/busybox" || die "cannot copy busybox"
for a in $("$BUSYBOX" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
ln -s bin "$root/sbin"
cp "$ko" "$root/rmc.ko" || die "cannot copy rmc.ko"

# kmod_test is linked statically by meson; a sanitizer build links it
# dynamically, so each library ldd lists goes in at its path.
src=$(readlink -f "$kmod_test") || die "$kmod_test: no such file"
cp "$src" "$root/bin/kmod_test" || die "cannot copy $src"
if deps=$(ldd "$src" 2>/dev/null); then
	for lib in $(echo "$deps" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" ||
			die "cannot copy library $lib"
	done
fi

cat >"$root/init" <<EOF
#!/bin/sh
GUEST_GID=$GUEST_GID
EOF
cat >>"$root/init" <<'EOF'
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

pass() { echo "=== GUEST: PASS $1"; }
fail() { echo "=== GUEST: FAIL $1: $2"; }
show() { sed "s/^/  $1| /"; }
now() { cut -d' ' -f1 /proc/uptime; }

echo "=== GUEST: START kernel $(uname -r) at $(now) s"
echo "guest: NUMA nodes online: $(cat /sys/devices/system/node/online)"

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
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initrd.gz" ||
	die "cannot pack the initramfs"

# ---- boot ------------------------------------------------------------------
expect="insmod dev-node info register-share unregister allocators bad-ioctls grant-off-xen
	perm-open-refused perm-open-group perm-map memlock random-ioctls numa unpin rmmod-busy rmmod
	dmesg"

echo "kmod.sh: kernel $kver, QEMU $("$QEMU" --version | head -n 1 | awk '{print $4}'), initramfs $(($(wc -c <"$work/initrd.gz") / 1024)) KiB"
guest_boot

# ---- verdict ---------------------------------------------------------------
guest_verdict kmod.sh "$expect"
exit 0

#!/bin/sh
# SPDX-License-Identifier: MIT
#
# xen2.sh: the Xen platform end to end, in QEMU (software emulation):
# QEMU -> Xen 4.17 -> a PV dom0 (xenstored, xenconsoled, xl) -> two PV guests,
# one per NUMA node of the emulated machine, each pinned to that node's CPU.
# In each guest: insmod rmc.ko mynid=N, rmcd 2 N with the xen fabric, and the
# original platform's flow (guest-init.sh); dom0 (dom0-init.sh) checks where
# each guest's memory is, destroys node 1's domain while node 0 reads from
# it and starts a second guest for node 1 (created with the others, kept
# paused), collects the results through xenstore nodes it owns, and the
# guests' console logs, and powers off.
#
# Passes (exit 0) only when dom0 prints every expected
#   === DOM0: PASS <name>
# line and no "=== DOM0: FAIL"; exit 1 otherwise, also when a tool is missing
# (this test never passes by skipping).  No latency is asserted: TCG timing
# means nothing.
#
# Usage (meson passes it):
#   xen2.sh --build-dir DIR [--kernel P] [--keep DIR]
# DIR is the meson build directory (rmcd, libsonuma); rmc.ko is built from
# kmod/ here, and the original's programs from tests/original/, with g++.
#
# Needs, on the host: qemu-system-x86_64, xen-hypervisor-4.17-amd64,
# xen-utils-4.17, xenstore-utils, a kernel in /boot with its modules and its
# headers (linux-headers-amd64), busybox-static, cpio, gzip, g++, make, and
# xz to unpack the guests' kernel ahead (without it they boot slower)
# (CI: scripts/deps.sh --test).  Takes 2-3 min on a quiet machine, up to 6
# when its CPUs are busy.

set -u

QEMU_TIMEOUT=780        # seconds for the whole machine, boot to power-off
GUEST_TIMEOUT=480       # seconds dom0 waits for each part of the guests' run
GUEST_MEM=200           # MiB per guest
XENVER=4.17

kernel='' keep='' build='' prog=xen2.sh
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$here/../qemu/guest.sh"

guest_args "--kernel kernel" "$@"

# ---- what the host must have ----------------------------------------------
[ -n "$build" ] || die "--build-dir not given (see --help)"
rmcd=$build/rmcd/rmcd
libdir=$build/libsonuma
[ -x "$rmcd" ] || die "$rmcd is not an executable (build the project first)"
[ -e "$libdir/libsonuma.so" ] || die "no $libdir/libsonuma.so (build the project first)"
grep -q "fabric xen: cannot open" "$rmcd" ||
	die "$rmcd was built without the xen fabric: install libxen-dev and run meson again"
guest_tools g++ make zcat modinfo
XEN_GZ=/boot/xen-$XENVER-amd64.gz
[ -r "$XEN_GZ" ] || die "no $XEN_GZ: install xen-hypervisor-$XENVER-amd64 (scripts/deps.sh --test)"
XENBIN=/usr/lib/xen-$XENVER/bin
for t in xl xenstored xenconsoled xen-init-dom0; do
	[ -x "$XENBIN/$t" ] || die "no $XENBIN/$t: install xen-utils-$XENVER (scripts/deps.sh --test)"
done
XS_TOOLS="xenstore-read xenstore-write xenstore-chmod xenstore-ls xenstore-rm xenstore-exists"
for t in $XS_TOOLS; do
	command -v $t >/dev/null || die "$t not found: install xenstore-utils (scripts/deps.sh --test)"
done
guest_any_kernel
moddir=/lib/modules/$kver/kernel/drivers/xen
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs/xenfs; do
	[ -r "$moddir/$m.ko" ] || die "no $moddir/$m.ko: the modules of kernel $kver are missing"
done
[ -d "/usr/src/linux-headers-$kver" ] ||
	die "no /usr/src/linux-headers-$kver: install linux-headers-amd64 (the headers of the kernel the guests boot)"

guest_workdir xen2

# ---- rmc.ko and the original's programs ------------------------------------
# The module for exactly the kernel the guests boot (kmod/Makefile).
make -s -C "$src/kmod" BUILD_DIR="$work/kmod" KVER="$kver" >"$work/kmod.log" 2>&1 ||
	{ cat "$work/kmod.log"; die "cannot build rmc.ko for $kver"; }
vm=$(modinfo -F vermagic "$work/kmod/rmc.ko" | awk '{ print $1 }')
[ "$vm" = "$kver" ] || die "rmc.ko is built for \"$vm\", the guests boot $kver"
# As the original's Makefile did: plain g++ against libsonuma.
mkdir -p "$work/prog"
for p in bench_server bench_sync bench_async nodes_up; do
	g++ -O2 -I"$src/include" -o "$work/prog/$p" \
		"$src/tests/original/$p.cpp" -L"$libdir" -Wl,-rpath,"$(readlink -f "$libdir")" \
		-lsonuma -lrt || die "g++ $p.cpp failed"
done

# ---- the guests' root --------------------------------------------------------
root=$work/guest
guest_root run var lib/modules
for t in $XS_TOOLS; do guest_add_prog "$t" "$(command -v $t)"; done
guest_add_prog rmcd "$rmcd"
for p in bench_server bench_sync bench_async nodes_up; do guest_add_prog $p "$work/prog/$p"; done
cp "$moddir/xen-gntdev.ko" "$moddir/xen-privcmd.ko" "$moddir/xenfs/xenfs.ko" \
	"$work/kmod/rmc.ko" "$root/lib/modules/" || die "cannot copy the guest's modules"
cp "$here/guest-init.sh" "$root/init" && chmod +x "$root/init" || die "cannot copy guest-init.sh"
guest_pack "$work/guest.gz"

# ---- dom0's root -------------------------------------------------------------
root=$work/dom0
guest_root run var lib/modules
for t in xl xenstored xenconsoled xen-init-dom0; do guest_add_prog $t "$XENBIN/$t"; done
for t in $XS_TOOLS; do guest_add_prog "$t" "$(command -v $t)"; done
# xl aborts without libgcc_s (pthread_cancel loads it at run time).
gcc_s=$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/ { print $NF; exit }')
[ -n "$gcc_s" ] || die "libgcc_s.so.1 not found (package libgcc-s1)"
guest_add_lib "$gcc_s"
cp "$moddir/xen-evtchn.ko" "$moddir/xen-privcmd.ko" "$moddir/xen-gntdev.ko" \
	"$moddir/xen-gntalloc.ko" "$moddir/xenfs/xenfs.ko" "$root/lib/modules/" ||
	die "cannot copy dom0's modules"
mkdir -p "$root/boot" "$root/etc/xen"
# The guests boot the same kernel, unpacked here: libxenguest unpacks an xz
# bzImage itself, which took 10 s of each xl create's 15 under emulation.
# The bzImage as it is when its payload is not xz or xz is not here.
gkernel=/boot/vmlinuz
off=$(LC_ALL=C grep -abo -F "$(printf '\3757zXZ')" "$kernel" | head -n 1 | cut -d: -f1)
if [ -n "$off" ] && command -v xz >/dev/null; then
	# xz complains about what follows the payload; the ELF is whole.
	tail -c +$((off + 1)) "$kernel" | xz -dc >"$root/boot/vmlinux" 2>/dev/null
	if [ "$(head -c 4 "$root/boot/vmlinux" | tr -d '\177')" = ELF ]; then
		gkernel=/boot/vmlinux
	else
		rm -f "$root/boot/vmlinux"
	fi
fi
[ $gkernel = /boot/vmlinux ] ||
	echo "xen2.sh: note: the guests boot the bzImage (no xz, or not an xz payload): slower"
[ $gkernel = /boot/vmlinux ] || cp "$kernel" "$root/boot/vmlinuz" ||
	die "cannot copy the guests' kernel"
cp "$work/guest.gz" "$root/boot/guest.gz" || die "cannot copy the guests' root"
: >"$root/etc/xen/xl.conf"
for n in 0 1; do
	cat >"$root/etc/xen/node$n.cfg" <<EOF
name = "sonuma@TAG@"
type = "pv"
kernel = "$gkernel"
ramdisk = "/boot/guest.gz"
memory = $GUEST_MEM
vcpus = 1
cpus = "$n"
cpus_soft = "$n"
extra = "console=hvc0 panic=-1 quiet nid=$n sonuma_tag=@TAG@ sonuma_res=/sonuma/result/$n sonuma_ctl=/sonuma/ctl"
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
done

{ echo "#!/bin/sh"; echo "GUEST_TIMEOUT=$GUEST_TIMEOUT"; sed 1d "$here/dom0-init.sh"; } \
	>"$root/init" || die "cannot write dom0's /init"
chmod +x "$root/init"
guest_pack "$work/dom0.gz"
zcat "$XEN_GZ" >"$work/xen.elf" || die "cannot unpack $XEN_GZ"

# ---- boot ------------------------------------------------------------------
expect="toolstack create0 numa0 create1 numa1 insmod0 insmod1 rmcd0 rmcd1 peers0 peers1
	server1 sync-read sync-write async-read destroy-inflight released unreachable
	create1b numa1b insmod1b rmcd1b peers1b server1b rejoin-read rejoin-write rejoin-async-read
	rmcd-stop0 rmcd-stop1b"

echo "xen2.sh: kernel $kver, Xen $XENVER, QEMU $("$QEMU" --version | head -n 1 | awk '{print $4}'), dom0 root $(($(wc -c <"$work/dom0.gz") / 1024)) KiB, guest root $(($(wc -c <"$work/guest.gz") / 1024)) KiB"
t0=$(date +%s.%N)
# The default CPU model: dom0 crashes under Xen with -cpu max.  bootscrub:
# by default Xen scrubs free memory in the background after boot, and until
# a node's is done it takes clean pages from another node rather than
# unscrubbed ones from the guest's own; scrubbing at boot takes no visible
# time here.
timeout -k 5 $QEMU_TIMEOUT "$QEMU" -accel tcg -m 2G -smp 2 \
	-object memory-backend-ram,id=m0,size=1G -object memory-backend-ram,id=m1,size=1G \
	-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 \
	-nodefaults -display none -no-reboot -serial "file:$log" \
	-kernel "$work/xen.elf" \
	-append "dom0_mem=512M,max:512M console=com1 com1=115200,8n1 bootscrub=true" \
	-initrd "$kernel console=hvc0 panic=-1 quiet,$work/dom0.gz" \
	</dev/null >"$work/qemu.out" 2>&1
qrc=$?
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

# ---- verdict ---------------------------------------------------------------
tr -d '\r' <"$log" >"$work/dom0.log" 2>/dev/null
bad=
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
	bad="$bad QEMU did not finish within $QEMU_TIMEOUT s;"
elif [ $qrc != 0 ]; then
	bad="$bad QEMU exited $qrc: $(tail -n 3 "$work/qemu.out" | tr '\n' ' ');"
fi
grep -q '^=== DOM0: START' "$work/dom0.log" || bad="$bad dom0's /init never ran;"
grep -q '^=== DOM0: END' "$work/dom0.log" || bad="$bad dom0 did not reach the end;"
for m in $expect; do
	grep -q "^=== DOM0: PASS $m\( \|\$\)" "$work/dom0.log" || bad="$bad no PASS $m;"
done
fails=$(grep '^=== DOM0: FAIL' "$work/dom0.log")

echo "---- serial console (Xen, dom0, the guests' consoles) ----"
cat "$work/dom0.log"
echo "---- QEMU output ----"
cat "$work/qemu.out"
echo "--------------------"
if [ -z "$bad" ] && [ -z "$fails" ]; then
	echo "xen2.sh: PASS ($(echo $expect | wc -w) checks: $expect) in $secs s from boot to power-off"
	exit 0
fi
[ -n "$fails" ] && echo "$fails"
echo "xen2.sh: FAIL after $secs s:$bad${fails:+ the run reported failures}"
exit 1

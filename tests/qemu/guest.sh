# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# What the QEMU guest tests share (sourced by numa2.sh, kmod.sh,
# kmod_rmcd.sh and ../xen/xen2.sh): the host's tools, the kernel and rmc.ko, a work directory,
# the initramfs with busybox and the programs, one boot of a two-NUMA-node
# guest and the verdict from its serial log.  The caller sets prog (its
# name, for messages), keep (a directory to keep the work in, or empty) and
# QEMU_TIMEOUT; the functions set and use QEMU, BUSYBOX, kver, kernel,
# work, root (the initramfs tree) and log (the serial console's file).

die() {
	echo "$prog: FAIL: $*" >&2
	exit 1
}

# guest_args SPEC ARG...: reads the command line.  SPEC has a line
# "--OPTION VARIABLE [PATH]" for each of the caller's options: --OPTION V
# sets VARIABLE to V (VARIABLE+PREFIX: appends " PREFIXV" instead;
# VARIABLE=VALUE: a flag, taking no V), and with --build-dir BUILD an
# unset VARIABLE with a PATH becomes BUILD/PATH.  Every caller also takes
# --keep DIR, --build-dir BUILD and --help (its leading comment).
guest_args() {
	guest_spec=$1
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--keep) keep=$2; shift 2 ;;
		--build-dir) build=$2; shift 2 ;;
		-h | --help) awk 'NR > 1 { if (!/^#/) exit; print }' "$0"; exit 0 ;;
		*)
			var=$(printf '%s\n' "$guest_spec" | awk -v o="$1" '$1 == o { print $2 }')
			case $var in
			'') die "unknown argument \"$1\" (see --help)" ;;
			*=*) eval "$var"; shift ;;
			*+*) eval "${var%%+*}=\"\${${var%%+*}} ${var#*+}\$2\""; shift 2 ;;
			*) eval "$var=\$2"; shift 2 ;;
			esac
			;;
		esac
	done
	[ -n "$build" ] || return 0
	eval "$(printf '%s\n' "$guest_spec" |
		awk 'NF == 3 { printf ": \"${%s:=$build/%s}\"\n", $2, $3 }')"
}

# guest_tools TOOL...: QEMU, a static BUSYBOX, and cpio, gzip, ldd, timeout
# and each TOOL on the PATH; dies naming the package when one is missing.
guest_tools() {
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
	for t in cpio gzip ldd timeout "$@"; do
		command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh --test)"
	done
}

# guest_headers_kernel: for a module, MODINFO, the newest installed
# linux-headers-*-amd64 (kver) and the kernel of exactly that version
# (kernel), checked by the version string inside the image.  The module is
# built for those headers and the guest boots that kernel: never the
# running kernel's version, which is the host's.
guest_headers_kernel() {
	MODINFO=$(PATH=$PATH:/sbin:/usr/sbin command -v modinfo) ||
		die "modinfo not found: install kmod (scripts/deps.sh --test)"
	kver=$(ls /usr/src 2>/dev/null | sed -n 's/^linux-headers-\(.*-amd64\)$/\1/p' | sort -V | tail -n 1)
	[ -n "$kver" ] || die "no /usr/src/linux-headers-*-amd64: install linux-headers-amd64 (scripts/deps.sh --test)"
	kernel=/boot/vmlinuz-$kver
	[ -r "$kernel" ] ||
		die "no readable $kernel for the headers $kver: install the matching linux-image-amd64 (scripts/deps.sh --test)"
	# The setup header's kernel_version (at 0x20e) is an offset from 0x200:
	# a renamed image cannot fool us.
	rel=$(od -An -tu2 -j 526 -N 2 "$kernel" | tr -d ' ')
	image_ver=$(dd if="$kernel" bs=1 skip=$((rel + 512)) count=128 2>/dev/null | tr '\0' '\n' |
		head -n 1 | awk '{ print $1 }')
	[ "$image_ver" = "$kver" ] || die "$kernel says it is \"$image_ver\", not $kver"
}

# guest_any_kernel: kernel (when not given, the newest in /boot), readable,
# and its version kver.
guest_any_kernel() {
	if [ -z "$kernel" ]; then
		kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
		[ -n "$kernel" ] ||
			die "no kernel in /boot (/boot/vmlinuz-*): install linux-image-amd64 (scripts/deps.sh --test)"
	fi
	[ -r "$kernel" ] || die "cannot read the kernel $kernel (run as root, or pass --kernel)"
	kver=${kernel##*/vmlinuz-}
}

# guest_workdir NAME: a temporary directory sonuma-NAME.* (work), copied
# to $keep on exit when keep is set, then removed; root and log in it.
guest_workdir() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/sonuma-$1.XXXXXX") || die "mktemp failed"
	trap guest_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	root=$work/root
	log=$work/serial.log
}

guest_cleanup() {
	if [ -n "$keep" ]; then
		mkdir -p "$keep" && cp -a "$work"/. "$keep"/ && echo "$prog: kept $work in $keep"
	fi
	rm -rf "$work"
}

# guest_kmod: builds rmc.ko from $kmod_src for kver with kbuild (-Werror,
# within BUILD_TIMEOUT seconds, no warning) in work; sets ko and vermagic,
# which must name kver.
guest_kmod() {
	if ! timeout "$BUILD_TIMEOUT" make -s -C "$kmod_src" KVER="$kver" BUILD_DIR="$work/kbuild" \
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
}

# guest_root DIR...: the initramfs tree: /bin with busybox and a link for
# each of its applets, /sbin, /dev, /proc, /sys, /tmp, /etc and each DIR.
guest_root() {
	mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/etc" ||
		die "cannot create $root"
	for d in "$@"; do
		mkdir -p "$root/$d" || die "cannot create $root/$d"
	done
	cp "$BUSYBOX" "$root/bin/busybox" || die "cannot copy busybox"
	for a in $("$BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	ln -s bin "$root/sbin"
}

# guest_add_lib PATH: a library, at the same path in the guest.
guest_add_lib() {
	[ -e "$root$1" ] && return 0
	mkdir -p "$root$(dirname "$1")" && cp -L "$1" "$root$1" ||
		die "cannot copy library $1"
}

# guest_add_prog NAME PATH: a program at its own path (so that a build
# tree's rpath, relative to $ORIGIN, still finds libsonuma) with a link
# /bin/NAME, and each library ldd lists at the path ldd names (none for a
# static program).
guest_add_prog() {
	src=$(readlink -f "$2") || die "$2: no such file"
	mkdir -p "$root$(dirname "$src")" && cp "$src" "$root$src" || die "cannot copy $src"
	ln -sf "$src" "$root/bin/$1"
	if ! deps=$(ldd "$src" 2>&1); then
		case $deps in
		*"not a dynamic executable"*) return 0 ;;
		esac
		die "ldd $src failed: $deps"
	fi
	echo "$deps" | grep -q 'not found' && die "$src: missing libraries:
$(echo "$deps" | grep 'not found')"
	for lib in $(echo "$deps" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		guest_add_lib "$lib"
	done
}

# guest_init NAME=VALUE...: the start of the guest's /init (busybox sh):
# the settings, the file systems, the console, the helpers its checks use
# (pass NAME, fail NAME WHY, show PREFIX, now) and the START line.  The
# caller appends its checks, "=== GUEST: END" and a poweroff.
guest_init() {
	{
		echo '#!/bin/sh'
		for a in "$@"; do
			echo "$a"
		done
		cat <<'EOF'
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

pass() { echo "=== GUEST: PASS $1"; }
fail() { echo "=== GUEST: FAIL $1: $2"; }
# Prefixes the output of a command in the log.
show() { sed "s/^/  $1| /"; }
now() { cut -d' ' -f1 /proc/uptime; }

echo "=== GUEST: START kernel $(uname -r) at $(now) s"
echo "guest: NUMA nodes online: $(cat /sys/devices/system/node/online)"
EOF
	} >"$root/init" || die "cannot write $root/init"
	chmod +x "$root/init"
}

# guest_pack [OUT]: the tree as OUT (default work/initrd.gz).
guest_pack() {
	(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"${1:-$work/initrd.gz}" ||
		die "cannot pack the initramfs $root"
}

# guest_boot: boots the guest under software emulation, 2 vCPUs, one per
# NUMA node of 1 GiB each; sets qrc (QEMU's exit status) and secs.
guest_boot() {
	t0=$(date +%s.%N)
	timeout -k 5 "$QEMU_TIMEOUT" "$QEMU" -accel tcg -cpu qemu64 -m 2G -smp 2 \
		-object memory-backend-ram,id=m0,size=1G -object memory-backend-ram,id=m1,size=1G \
		-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 \
		-nodefaults -display none -no-reboot -serial "file:$log" \
		-kernel "$kernel" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet" </dev/null >"$work/qemu.out" 2>&1
	qrc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
}

# guest_verdict NAME EXPECT: passes (prints the guest's log and a PASS line,
# returns 0) only when QEMU ended in time, the guest's /init ran to its END,
# every check of EXPECT printed "=== GUEST: PASS check" (optionally followed
# by " (note)") and none "=== GUEST: FAIL"; otherwise prints why and exits 1.
guest_verdict() {
	name=$1 expect=$2
	tr -d '\r' <"$log" >"$work/guest.log" 2>/dev/null
	bad=
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		bad="$bad QEMU did not finish within $QEMU_TIMEOUT s;"
	elif [ "$qrc" != 0 ]; then
		bad="$bad QEMU exited $qrc: $(tail -n 3 "$work/qemu.out" | tr '\n' ' ');"
	fi
	grep -q '^=== GUEST: START' "$work/guest.log" || bad="$bad the guest's /init never ran;"
	grep -q '^=== GUEST: END' "$work/guest.log" ||
		bad="$bad the guest did not reach the end of its tests;"
	for m in $expect; do
		grep -q "^=== GUEST: PASS $m\( (.*)\)\?\$" "$work/guest.log" || bad="$bad no PASS $m;"
	done
	fails=$(grep '^=== GUEST: FAIL' "$work/guest.log")

	if [ -z "$bad" ] && [ -z "$fails" ]; then
		echo "---- guest log ----"
		cat "$work/guest.log"
		echo "-------------------"
		# shellcheck disable=SC2086 # $expect is a list of names
		echo "$name: PASS ($(echo $expect | wc -w) checks: $(echo $expect)) in $secs s from boot to power-off"
		return 0
	fi
	echo "---- guest log (serial console) ----"
	cat "$work/guest.log"
	echo "---- QEMU output ----"
	cat "$work/qemu.out"
	echo "--------------------"
	[ -n "$fails" ] && echo "$fails"
	echo "$name: FAIL after $secs s:$bad${fails:+ guest reported failures}"
	exit 1
}

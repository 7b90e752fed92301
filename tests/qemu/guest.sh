# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# What the QEMU guest tests share (sourced by numa2.sh, kmod.sh and
# kmod_rmcd.sh): one boot of a two-NUMA-node guest and the verdict from its
# serial log.  The caller sets QEMU, QEMU_TIMEOUT, kernel, work (holding
# initrd.gz) and log (the serial console's file).

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

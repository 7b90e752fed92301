#!/bin/sh
# SPDX-License-Identifier: MIT
#
# numa2.sh: boots a two-domain NUMA guest in QEMU (software emulation) and
# checks, inside it, that rmcd puts each node's context and RMC thread on the
# node's NUMA domain, that data moves between domains, and that rmcd stops
# cleanly.  Passes (exit 0) only when the guest prints every expected
#   === GUEST: PASS <name>
# line and no "=== GUEST: FAIL"; exit 1 otherwise (also when QEMU or the
# kernel is missing: this test never passes by skipping).
#
# Usage (meson passes the paths; by hand, --build-dir fills them in):
#   numa2.sh --rmcd P --sonuma-run P --bench-server P --bench-sync P
#            --numa-check P [--calibrate P] [--kernel P] [--keep DIR]
#   numa2.sh --build-dir /path/to/build [--numa-check P] ...
#
# Needs qemu-system-x86_64, a kernel in /boot, busybox (static), cpio, gzip
# (CI: scripts/deps.sh --test).  Takes about 20 s (TCG, 2 vCPUs).

set -u
. "$(dirname "$0")/guest.sh"

# 1 makes the sonuma-calibrate check mandatory: the test then fails when the
# tool is not given (or not built) instead of reporting it as skipped.
REQUIRE_CALIBRATE=1

QEMU_TIMEOUT=150        # seconds for boot + guest tests + power-off
GUEST_WAIT=30           # seconds the guest waits for rmcd to come up

prog=numa2.sh
rmcd='' sonuma_run='' bench_server='' bench_sync='' numa_check='' calibrate='' kernel='' keep='' build=''

guest_args "
	--rmcd rmcd rmcd/rmcd
	--sonuma-run sonuma_run experiments/sonuma-run
	--bench-server bench_server experiments/bench_server
	--bench-sync bench_sync experiments/bench_sync
	--numa-check numa_check tests/qemu/numa_check
	--calibrate calibrate
	--kernel kernel
	--require-calibrate REQUIRE_CALIBRATE=1" "$@"
if [ -n "$build" ] && [ -z "$calibrate" ] && [ -x "$build/calibrate/sonuma-calibrate" ]; then
	calibrate=$build/calibrate/sonuma-calibrate
fi

# ---- what the host must have ----------------------------------------------
for v in rmcd sonuma_run bench_server bench_sync numa_check; do
	eval "p=\$$v"
	[ -n "$p" ] || die "--$(echo $v | tr _ -) not given (see --help)"
	[ -x "$p" ] || die "$v: $p is not an executable (build the project first)"
done
if [ -n "$calibrate" ] && [ ! -x "$calibrate" ]; then
	die "--calibrate: $calibrate is not an executable"
fi
if [ -z "$calibrate" ] && [ "$REQUIRE_CALIBRATE" = 1 ]; then
	die "sonuma-calibrate was not given (--calibrate), and the calibration check is mandatory"
fi

guest_tools
guest_any_kernel

guest_workdir numa2

# ---- the initramfs ---------------------------------------------------------
guest_root run
guest_add_prog rmcd "$rmcd"
guest_add_prog sonuma-run "$sonuma_run"
guest_add_prog bench_server "$bench_server"
guest_add_prog bench_sync "$bench_sync"
guest_add_prog numa_check "$numa_check"
[ -n "$calibrate" ] && guest_add_prog sonuma-calibrate "$calibrate"

guest_init "GUEST_WAIT=$GUEST_WAIT"
cat >>"$root/init" <<'EOF'
# The run directory is a tmpfs of its own.  Nothing is mounted over /tmp or
# /run: the programs sit at their host paths, which may be under either.
mkdir -p /run/sonuma /tmp /dev/shm
mount -t tmpfs -o mode=0700 tmpfs /run/sonuma
mount -t tmpfs tmpfs /dev/shm
for n in /sys/devices/system/node/node[0-9]*; do
	echo "guest: ${n##*/}: CPUs $(cat $n/cpulist), $(grep MemTotal $n/meminfo | awk '{print $4, $5}')"
done

# ---- the topology QEMU was asked for ---------------------------------------
if [ "$(cat /sys/devices/system/node/online)" = 0-1 ] &&
   [ "$(cat /sys/devices/system/node/node0/cpulist)" = 0 ] &&
   [ "$(cat /sys/devices/system/node/node1/cpulist)" = 1 ]; then
	pass topology
else
	fail topology "expected NUMA nodes 0-1 with CPU 0 on node 0 and CPU 1 on node 1"
fi

# ---- rmcd ------------------------------------------------------------------
rmcd -r /run/sonuma 2 >/tmp/rmcd.log 2>&1 &
rmcd_pid=$!
i=0
while [ $i -lt $((GUEST_WAIT * 10)) ]; do
	[ -S /run/sonuma/node0.sock ] && [ -S /run/sonuma/node1.sock ] &&
		grep -q 'node 1: NUMA domain' /tmp/rmcd.log && break
	kill -0 $rmcd_pid 2>/dev/null || break
	usleep 100000
	i=$((i + 1))
done
if [ -S /run/sonuma/node0.sock ] && [ -S /run/sonuma/node1.sock ]; then
	pass rmcd-start
	rmcd_up=1
else
	fail rmcd-start "no node sockets in /run/sonuma after ${GUEST_WAIT}s"
	rmcd_up=0
fi
echo "guest: rmcd (pid $rmcd_pid) log so far:"
show rmcd </tmp/rmcd.log

if [ $rmcd_up = 1 ]; then
	echo "guest: rmcd's context mappings (/proc/$rmcd_pid/numa_maps):"
	grep sonuma-ctx /proc/$rmcd_pid/numa_maps | show numa_maps

	# ---- a. context placement ------------------------------------------
	for n in 0 1; do
		out=$(SONUMA_NODE=$n SONUMA_RUNDIR=/run/sonuma numa_check ctx 2>&1)
		rc=$?
		echo "$out" | show "numa_check $n"
		if [ $rc = 0 ]; then
			pass ctx-node$n
		else
			fail ctx-node$n "numa_check exited $rc: $(echo "$out" | tail -n 1)"
		fi
	done

	# ---- b. RMC threads and rmcd's own account ---------------------------
	# The threads name and pin themselves once started: allow a moment.
	i=0
	while :; do
		why=
		for t in 0 1; do
			tid=
			for c in /proc/$rmcd_pid/task/*/comm; do
				[ "$(cat $c 2>/dev/null)" = rmc$t ] && tid=${c%/comm} && tid=${tid##*/}
			done
			if [ -z "$tid" ]; then
				why="$why no thread named rmc$t;"
				continue
			fi
			cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/$rmcd_pid/task/$tid/status)
			[ "$cpus" = $t ] || why="$why rmc$t (tid $tid) allowed on CPUs $cpus, not $t;"
		done
		[ -z "$why" ] || [ $i -ge 50 ] && break
		i=$((i + 1))
		usleep 100000
	done
	echo "guest: rmcd threads:"
	for c in /proc/$rmcd_pid/task/*/comm; do
		d=${c%/comm}
		echo "  ${d##*/} $(cat $c) $(grep Cpus_allowed_list $d/status | tr -s '\t' ' ')"
	done
	if [ -z "$why" ]; then
		pass rmc-threads
	else
		fail rmc-threads "$why"
	fi

	why=
	grep -q 'node 0: NUMA domain 0,' /tmp/rmcd.log || why="$why no \"node 0: NUMA domain 0\" line;"
	grep -q 'node 1: NUMA domain 1,' /tmp/rmcd.log || why="$why no \"node 1: NUMA domain 1\" line;"
	grep -q 'node 0: .*RMC thread 0 on CPU 0$' /tmp/rmcd.log || why="$why node 0 not served by RMC thread 0 on CPU 0;"
	grep -q 'node 1: .*RMC thread 1 on CPU 1$' /tmp/rmcd.log || why="$why node 1 not served by RMC thread 1 on CPU 1;"
	w=$(grep -E 'cannot (bind|lock|pin)' /tmp/rmcd.log | head -n 1)
	[ -z "$w" ] || why="$why rmcd warned: $w;"
	if [ -z "$why" ]; then
		pass rmcd-log
	else
		fail rmcd-log "$why"
	fi

	# ---- c. data across domains -----------------------------------------
	out=$(timeout 60 sonuma-run -n 1 -r /run/sonuma -- bench_server -1 2>&1)
	rc=$?
	echo "$out" | show bench_server
	if [ $rc != 0 ]; then
		fail datapath "bench_server -1 on node 1 exited $rc"
	else
		out=$(timeout 60 sonuma-run -n 0 -r /run/sonuma -- bench_sync 1 r 2>&1)
		rc=$?
		echo "$out" | show bench_sync
		if [ $rc = 0 ] && echo "$out" | grep -q 'values correct'; then
			pass datapath
		else
			fail datapath "bench_sync 1 r on node 0 exited $rc: $(echo "$out" | tail -n 1)"
		fi
	fi
	# Writes from node 1 into node 0's context, in 4 KiB pieces over 256 KiB.
	out=$(timeout 60 sonuma-run -n 1 -r /run/sonuma -- bench_sync -q -n 64 -s 4096 0 w 2>&1)
	rc=$?
	echo "$out" | show bench_sync
	if [ $rc = 0 ] && echo "$out" | grep -q 'values correct'; then
		pass datapath-write
	else
		fail datapath-write "bench_sync -n 64 -s 4096 0 w on node 1 exited $rc: $(echo "$out" | tail -n 1)"
	fi

	# ---- e. stopping rmcd ------------------------------------------------
	kill -TERM $rmcd_pid
	i=0
	# A zombie still answers kill -0: look at its state instead.
	while [ $i -lt 100 ]; do
		st=$(awk '{ print $3 }' /proc/$rmcd_pid/stat 2>/dev/null)
		[ -z "$st" ] || [ "$st" = Z ] && break
		usleep 100000
		i=$((i + 1))
	done
	if [ -n "$st" ] && [ "$st" != Z ]; then
		fail rmcd-term "rmcd still running 10 s after SIGTERM (state $st)"
		kill -KILL $rmcd_pid
		wait $rmcd_pid
	else
		wait $rmcd_pid
		rc=$?
		left=$(ls /run/sonuma/*.sock 2>/dev/null)
		if [ $rc != 0 ]; then
			fail rmcd-term "rmcd exited $rc after SIGTERM"
		elif [ -n "$left" ]; then
			fail rmcd-term "rmcd left its sockets behind: $left"
		else
			pass rmcd-term
		fi
	fi
	echo "guest: rmcd's whole log:"
	show rmcd </tmp/rmcd.log
else
	kill -KILL $rmcd_pid 2>/dev/null
fi

# ---- d. calibration (rmcd stopped, so that its threads do not disturb it) ---
if [ -x /bin/sonuma-calibrate ]; then
	t0=$(now)
	# --force: the emulated CPU has no invariant TSC (TCG cannot offer
	# invtsc), and sonuma-calibrate refuses such a CPU without it.
	out=$(timeout 90 sonuma-calibrate --quick --no-floor --force -o /tmp/cal.cfg 2>&1)
	rc=$?
	echo "$out" | tail -n 20 | show calibrate
	echo "guest: sonuma-calibrate exited $rc after $t0 .. $(now) s"
	if [ $rc != 0 ]; then
		fail calibrate "sonuma-calibrate --quick --no-floor --force exited $rc"
	elif [ ! -s /tmp/cal.cfg ]; then
		fail calibrate "sonuma-calibrate wrote no /tmp/cal.cfg"
	else
		show cal.cfg </tmp/cal.cfg
		out=$(numa_check calib /tmp/cal.cfg -n 2 2>&1)
		rc=$?
		echo "$out" | show check
		if [ $rc = 0 ]; then
			pass calibrate
		else
			fail calibrate "numa_check calib exited $rc: $(echo "$out" | grep FAIL | head -n 1)"
		fi
	fi
else
	echo "=== GUEST: SKIP calibrate: sonuma-calibrate not packed"
fi

echo "=== GUEST: END at $(now) s"
poweroff -f
EOF

guest_pack

# ---- boot ------------------------------------------------------------------
expect="topology rmcd-start ctx-node0 ctx-node1 rmc-threads rmcd-log datapath datapath-write rmcd-term"
[ -n "$calibrate" ] && expect="$expect calibrate"

echo "numa2.sh: kernel $kver, QEMU $("$QEMU" --version | head -n 1 | awk '{print $4}'), initramfs $(($(wc -c <"$work/initrd.gz") / 1024)) KiB"
echo "numa2.sh: calibration check: $([ -n "$calibrate" ] && echo "on ($calibrate)" || echo "SKIPPED: sonuma-calibrate not built")"
guest_boot

# ---- verdict ---------------------------------------------------------------
guest_verdict numa2.sh "$expect"
grep -q '^=== GUEST: SKIP calibrate' "$work/guest.log" &&
	echo "numa2.sh: NOTE: the calibration check was SKIPPED: sonuma-calibrate was not built (set REQUIRE_CALIBRATE=1 in numa2.sh to make it mandatory)"
exit 0

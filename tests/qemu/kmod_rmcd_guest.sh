#!/bin/sh
# SPDX-License-Identifier: MIT
#
# kmod_rmcd_guest.sh: /init of the guest of kmod_rmcd.sh (busybox sh).  The
# host packs it with rmc.ko, rmcd, the original's programs, kmod_rmcd_test,
# /etc/check_values.awk and /etc/kmod_rmcd.env (GUEST_WAIT, SEED).  Prints
#   === GUEST: PASS <name>   or   === GUEST: FAIL <name>: <why>
# for each check, then powers the machine off.

export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
# awk's error messages go to /dev/stderr, which devtmpfs does not make.
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
. /etc/kmod_rmcd.env

# Nothing is mounted over /tmp: the programs sit at their host paths, which
# may be under it.  The run directory and the outputs are elsewhere.
RUN=/var/sonuma
OUT=/var/out
mkdir -m 0700 $RUN
mkdir -p $OUT
export SONUMA_RUNDIR=$RUN

pass() { echo "=== GUEST: PASS $1"; }
fail() { echo "=== GUEST: FAIL $1: $2"; }
show() { sed "s/^/  $1| /"; }
now() { cut -d' ' -f1 /proc/uptime; }
# waitfor SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds.
waitfor() {
	n=$(($1 * 10))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		usleep 100000
	done
}
# count PATTERN FILE: lines of FILE with PATTERN.
count() { grep -c "$1" "$2" 2>/dev/null || true; }

echo "=== GUEST: START kernel $(uname -r) at $(now) s"
echo "guest: NUMA nodes online: $(cat /sys/devices/system/node/online)"

# ---- 1. the module and one rmcd per node -------------------------------------
dmesg -c >/dev/null
if ! out=$(insmod /rmc.ko mynid=0 2>&1); then
	fail insmod "insmod rmc.ko mynid=0: $out"
	echo "=== GUEST: END at $(now) s"
	poweroff -f
fi
pass insmod

rmcd -r $RUN 2 1 >$OUT/rmcd1.log 2>&1 &
pid1=$!
rmcd -r $RUN 2 0 >$OUT/rmcd0.log 2>&1 &
pid0=$!
up() {
	[ -S $RUN/node0.sock ] && [ -S $RUN/node1.sock ] &&
		grep -q 'registered through /dev/rmc' $OUT/rmcd0.log &&
		grep -q 'registered through /dev/rmc' $OUT/rmcd1.log
}
if waitfor $GUEST_WAIT up; then
	pass rmcd-start
else
	fail rmcd-start "no node sockets or no word of /dev/rmc in $RUN after ${GUEST_WAIT}s"
fi
# Each says how many contexts went through the module: one each, not none.
dev0=$(grep -E ': 1 context registered through /dev/rmc$' $OUT/rmcd0.log)
dev1=$(grep -E ': 1 context registered through /dev/rmc$' $OUT/rmcd1.log)
if [ -n "$dev0" ] && [ -n "$dev1" ]; then
	pass "rmcd-dev (node 0:${dev0#*:} node 1:${dev1#*:})"
else
	fail rmcd-dev "an rmcd did not register its context through /dev/rmc"
fi
if ! out=$(SONUMA_NODE=0 nodes_up 20 2>&1); then
	fail nodes-up "node 0 does not reach node 1: $out"
elif ! out=$(SONUMA_NODE=1 nodes_up 20 2>&1); then
	fail nodes-up "node 1 does not reach node 0: $out"
else
	pass nodes-up
fi

# ---- 2. the original's flow (tests/original/flow.sh) -------------------------
echo "guest: the original's flow at $(now) s"
# check NAME FILE OFFSET: every page i printed "read this number: i + OFFSET".
check() {
	if why=$(awk -v off="$3" -f /etc/check_values.awk "$2" 2>&1); then
		pass "$1"
	else
		fail "$1" "$(echo "$why" | tr '\n' ' ')"
	fi
}
if SONUMA_NODE=1 bench_server >$OUT/server.out 2>&1 &&
   grep -q "wrote 4096 page numbers" $OUT/server.out; then
	pass flow-server
else
	fail flow-server "$(tail -n 3 $OUT/server.out | tr '\n' ' ')"
fi
if SONUMA_NODE=0 bench_sync 1 r >$OUT/sync_r.out 2>&1; then
	check flow-sync-r $OUT/sync_r.out 0
else
	fail flow-sync-r "bench_sync 1 r: $(tail -n 3 $OUT/sync_r.out | tr '\n' ' ')"
fi
if SONUMA_NODE=0 bench_sync 1 w >$OUT/sync_w.out 2>&1; then
	pass flow-sync-w
else
	fail flow-sync-w "bench_sync 1 w: $(tail -n 3 $OUT/sync_w.out | tr '\n' ' ')"
fi
if ! SONUMA_NODE=0 bench_async 1 r >$OUT/async_r.out 2>&1; then
	fail flow-async-r "bench_async 1 r: $(tail -n 3 $OUT/async_r.out | tr '\n' ' ')"
elif grep -q failed $OUT/async_r.out; then
	fail flow-async-r "$(grep -m 3 failed $OUT/async_r.out | tr '\n' ' ')"
else
	check flow-async-r $OUT/async_r.out 65536
fi
if ! SONUMA_NODE=0 bench_async 1 w >$OUT/async_w.out 2>&1; then
	fail flow-async-w "bench_async 1 w: $(tail -n 3 $OUT/async_w.out | tr '\n' ' ')"
elif grep -q failed $OUT/async_w.out; then
	fail flow-async-w "$(grep -m 3 failed $OUT/async_w.out | tr '\n' ' ')"
elif ! grep -q "4096 operations done" $OUT/async_w.out; then
	fail flow-async-w "bench_async 1 w did not finish"
else
	pass flow-async-w
fi

# ---- 3 and 4. a program's own memory: local buffer and context ---------------
echo "guest: kmod_rmcd_test at $(now) s"
attached=$(count 'node 1: attached to its rmcd' $OUT/rmcd0.log)
SONUMA_NODE=1 kmod_rmcd_test ctx-own $SEED
rc=$?
[ $rc = 0 ] || echo "guest: kmod_rmcd_test ctx-own exited $rc"
# rmcd 1 took the region, and rmcd 0 attached again to the new context.
if grep -q 'node 1: context 0 is now memory of pid .* through rmc.ko' $OUT/rmcd1.log; then
	pass ctx-swap
else
	fail ctx-swap "rmcd 2 1 did not say that its context 0 is now a program's memory"
fi
reattached() { [ "$(count 'node 1: attached to its rmcd' $OUT/rmcd0.log)" -gt "$attached" ]; }
if waitfor $GUEST_WAIT reattached; then
	pass peer-reattach
else
	fail peer-reattach "rmcd 2 0 did not attach again to node 1 in ${GUEST_WAIT}s"
fi
SONUMA_NODE=0 kmod_rmcd_test remote 1 $SEED
rc=$?
[ $rc = 0 ] || echo "guest: kmod_rmcd_test remote exited $rc"
SONUMA_NODE=1 kmod_rmcd_test ctx-map $SEED
rc=$?
[ $rc = 0 ] || echo "guest: kmod_rmcd_test ctx-map exited $rc"

# ---- 5. stop, remove the module, read the kernel log ---------------------------
echo "guest: stopping rmcd at $(now) s"
kill -TERM $pid0 $pid1
gone() { ! kill -0 $pid0 2>/dev/null && ! kill -0 $pid1 2>/dev/null; }
if waitfor $GUEST_WAIT gone; then
	wait $pid0
	rc0=$?
	wait $pid1
	rc1=$?
	if [ $rc0 = 0 ] && [ $rc1 = 0 ]; then
		pass rmcd-exit
	else
		fail rmcd-exit "after SIGTERM rmcd 2 0 exited $rc0, rmcd 2 1 exited $rc1"
	fi
else
	fail rmcd-exit "an rmcd still runs ${GUEST_WAIT}s after SIGTERM"
	kill -KILL $pid0 $pid1 2>/dev/null
	wait
fi
for n in 0 1; do
	echo "guest: log of rmcd 2 $n:"
	show "rmcd $n" <$OUT/rmcd$n.log
done
errs=$(grep -i error $OUT/rmcd0.log $OUT/rmcd1.log | head -n 3)
if [ -z "$errs" ]; then
	pass rmcd-log
else
	fail rmcd-log "$(echo "$errs" | tr '\n' ' ')"
fi

if out=$(rmmod rmc 2>&1) && ! grep -q '^rmc ' /proc/modules; then
	pass rmmod
else
	fail rmmod "rmmod rmc: $out"
fi

dmesg >$OUT/dmesg
echo "guest: kernel log since insmod:"
show dmesg <$OUT/dmesg
bad=$(grep -E 'WARN|BUG|Oops|leak|Call Trace|general protection' $OUT/dmesg | head -n 3)
if [ -n "$bad" ]; then
	fail dmesg "$(echo "$bad" | tr '\n' ' ')"
elif ! grep -q 'rmc: node 0 ready' $OUT/dmesg; then
	fail dmesg "no \"rmc: node 0 ready\" line: is this the kernel log since insmod?"
else
	pass dmesg
fi

echo "=== GUEST: END at $(now) s"
poweroff -f

#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of dom0 in xen2.sh: starts the toolstack, creates one PV guest per
# node and a second one for node 1, paused (node N's pinned to CPU N, hard
# and soft, so that Xen takes its memory from NUMA node N), checks where
# their memory is, and runs the scenario: the original's flow between the
# first two, node 1's domain destroyed while node 0 reads from it (node 0's
# requests to it must fail, nothing may hang, node 0 must release its grant
# mappings so that the domain goes away), node 1's second guest run once
# node 0 has checked that the first is unreachable, then power-off.  A guest
# gets its xenstore nodes when it starts.  Every check prints
# "=== DOM0: PASS name" or "=== DOM0: FAIL name: why"; the guests' own lines
# come through xenstore.
#
# GUEST_TIMEOUT (seconds) is set by xen2.sh above this text.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
now() { cut -d' ' -f1 /proc/uptime; }
secs() { cut -d. -f1 /proc/uptime; }
pass() { echo "=== DOM0: PASS $1"; }
fail() { echo "=== DOM0: FAIL $1: $2"; }
show() { sed "s/^/  $1| /"; }
XS=/local/sonuma/test        # the cluster's xenstore directory (rmc.conf: cluster "test")
CTL=/sonuma/ctl              # orders to the guests
finish() {
	xl list | show "xl list"
	sleep 2
	kill $tails 2>/dev/null
	echo "=== DOM0: END at $(now) s"
	poweroff -f
}
echo "=== DOM0: START kernel $(uname -r) at $(now) s"

# ---- the toolstack -----------------------------------------------------------
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
	insmod /lib/modules/$m.ko || { fail toolstack "insmod $m"; finish; }
done
mount -t xenfs xenfs /proc/xen
mount -t tmpfs tmpfs /run
ln -s /run /var/run
mkdir -p /run/xenstored /run/xen /var/lib/xenstored /var/lib/xen /var/log/xen/console
xenstored --pid-file /run/xenstored.pid || { fail toolstack "xenstored did not start"; finish; }
xen-init-dom0 >/tmp/init-dom0.log 2>&1 ||
	{ show init-dom0 </tmp/init-dom0.log; fail toolstack "xen-init-dom0 failed"; finish; }
xenconsoled --log=guest --log-dir=/var/log/xen/console ||
	{ fail toolstack "xenconsoled did not start"; finish; }
xl info | grep -E '^(nr_cpus|nr_nodes|total_memory|free_memory|xen_version)' | show "xl info"
pass toolstack

# ---- guests ----------------------------------------------------------------
# Guests are named after their tag: sonuma0, sonuma1, and node 1's
# successor sonuma1b.
domid_of() { xl domid "sonuma$1" 2>/dev/null; }
# node_nodes N DOMID: node N's xenstore directories, emptied and given to its
# domain (what a guest creates itself vanishes with it; these stay); dom_N
# is that domain from now on.
node_nodes() {
	xenstore-rm $XS/node/$1 2>/dev/null
	xenstore-write $XS/node/$1 "" && xenstore-chmod $XS/node/$1 r0 b$2 &&
		xenstore-rm /sonuma/result/$1 2>/dev/null
	xenstore-write /sonuma/result/$1 "" && xenstore-chmod /sonuma/result/$1 r0 b$2 &&
		eval "dom_$1=$2"
}
# create_guest N TAG: a guest for node N, created paused, its memory
# checked.
create_guest() {
	t0=$(now)
	sed "s/@TAG@/$2/g" /etc/xen/node$1.cfg >/tmp/node$2.cfg
	if ! xl create -p /tmp/node$2.cfg >/tmp/create$2.log 2>&1; then
		show "xl create node$1" </tmp/create$2.log
		fail create$2 "xl create of node $1 ($2) failed"
		return 1
	fi
	d=$(domid_of $2)
	echo "dom0: node $1 ($2) is domain $d (created in $t0 .. $(now) s)"
	pass create$2
	check_numa $1 $2 $d
}
# run_guest N TAG: gives node N's xenstore nodes to guest TAG, follows its
# console, unpauses it.
run_guest() {
	d=$(domid_of $2)
	if ! node_nodes $1 $d; then
		fail create$2 "cannot set up the xenstore nodes of node $1 (domain $d)"
		return 1
	fi
	tail -F /var/log/xen/console/guest-sonuma$2.log 2>/dev/null | sed "s/^/  [node$2] /" &
	tails="$tails $!"
	xl unpause "sonuma$2"
}
# check_numa N TAG DOMID: every page of the (paused) guest on NUMA node N.
check_numa() {
	xl debug-keys u
	xl dmesg | grep -A2 "Domain $3 (total" | tail -n 3 | show "numa node$1"
	line=$(xl dmesg | grep -A3 "Domain $3 (total" | grep -E "Node $1: [0-9]+" | tail -n 1)
	total=$(xl dmesg | grep "Domain $3 (total" | tail -n 1 | sed 's/.*total: \([0-9]*\).*/\1/')
	here=$(echo "$line" | sed 's/.*Node [0-9]*: \([0-9]*\).*/\1/')
	if [ -n "$total" ] && [ "$total" = "$here" ] && [ "$total" -gt 0 ]; then
		pass numa$2
	else
		fail numa$2 "domain $3: ${here:-?} of ${total:-?} pages on NUMA node $1"
	fi
}
# results N: the guest's lines, as dom0's.
results() {
	r=$(xenstore-read -R /sonuma/result/$1 2>/dev/null)
	echo "$r" | show "result node$1"
	echo "$r" | grep -E '^(PASS|FAIL) ' | sed 's/^/=== DOM0: /'
}
# wait_res N WORD SECS: until node N's results have a line starting with
# WORD, or END, or its domain is gone.  0 only for WORD.
wait_res() {
	deadline=$(($(secs) + $3))
	eval "d=\$dom_$1"
	while [ $(secs) -lt $deadline ]; do
		r=$(xenstore-read -R /sonuma/result/$1 2>/dev/null)
		echo "$r" | grep -q "^$2" && return 0
		echo "$r" | grep -q "^END" && return 1
		xenstore-exists /local/domain/$d || return 1
		sleep 1
	done
	return 1
}

xenstore-write $XS "" && xenstore-chmod $XS r0 &&
	xenstore-write $XS/node "" && xenstore-chmod $XS/node r0 &&
	xenstore-write $CTL "" && xenstore-chmod $CTL r0 ||
	{ fail xenstore "cannot create $XS and $CTL"; finish; }
xenstore-write /sonuma/result "" && xenstore-chmod /sonuma/result r0
# The three at once (each xl create takes 5-15 s here), before any runs:
# node 1's successor is kept paused until node 1's guest is gone.
for t in 0 1 1b; do
	create_guest ${t%b} $t >/tmp/create-$t.out 2>&1 &
	eval "pid_$t=\$!"
done
for t in 0 1 1b; do
	eval "wait \$pid_$t"
	cat /tmp/create-$t.out
done
grep -q "^=== DOM0: PASS create" /tmp/create-0.out && grep -q "^=== DOM0: PASS create" /tmp/create-1.out ||
	finish
run_guest 0 0 && run_guest 1 1 || finish

# ---- the flow, then node 1 destroyed while node 0 reads from it -------------
if wait_res 0 "WAIT destroy" $GUEST_TIMEOUT; then
	d1=$dom_1
	t0=$(now)
	xl destroy sonuma1
	xenstore-write $CTL "destroyed"
	echo "dom0: domain $d1 (node 1) destroyed in $t0 .. $(now) s"
	results 1
	# Node 0 must let go of node 1's pages: a domain whose pages are
	# still mapped elsewhere stays behind as a zombie.
	i=0
	while xl list | grep -q "^[^ ]* *$d1 " && [ $i -lt 60 ]; do
		sleep 2
		i=$((i + 2))
	done
	if xl list | grep -q "^[^ ]* *$d1 "; then
		xl list | show "xl list"
		fail released "domain $d1 (node 1) still there $i s after xl destroy: its pages are still mapped"
	else
		echo "dom0: domain $d1 gone in $t0 .. $(now) s"
		pass released
	fi
else
	fail destroyed "node 0 never got to the point of node 1's destruction"
	results 0
	results 1
	finish
fi

# ---- a new guest for node 1 ----------------------------------------------------
# Run once node 0 has checked that the old one is unreachable.
if grep -q "^=== DOM0: PASS create" /tmp/create-1b.out && wait_res 0 "WAIT rejoin" $GUEST_TIMEOUT &&
   run_guest 1 1b; then
	xenstore-write $CTL "destroyed rejoined"
	wait_res 0 END $GUEST_TIMEOUT
fi
xenstore-write $CTL "destroyed rejoined stop"
wait_res 1 END 120
results 0
results 1
for n in 0 1; do
	xenstore-read -R /sonuma/result/$n | grep -q '^END' ||
		fail end$n "node $n did not finish within its time"
done
echo "dom0: xenstore at the end:"
xenstore-ls -p $XS | show xenstore
finish

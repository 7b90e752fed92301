#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of a node's PV guest in xen2.sh: loads rmc.ko, starts "rmcd 2 NID"
# with the xen fabric, and runs the original platform's flow (bench_server on
# node 1; bench_sync 1 r, bench_sync 1 w, bench_async 1 r on node 0, every
# value checked), then, on node 0, what happens when node 1's domain is
# destroyed while node 0 reads from it (the reads before are right, every
# one after fails with EHOSTUNREACH, nothing hangs; then reads, writes and
# asynchronous reads to it all fail at once), and when a new guest for it
# joins (the original's flow against it again).  Each program's time and
# where the guest's CPU went meanwhile are in the console log.
#
# The kernel command line says who it is: nid=N, sonuma_tag=NAME (this
# incarnation, in result names), sonuma_res=PATH (the xenstore node dom0
# gave it for results, one "PASS name" / "FAIL name: why" line each, then
# END), sonuma_ctl=PATH (dom0's orders: "destroyed", "rejoined", "stop").
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in xen-gntdev xen-privcmd xenfs; do insmod /lib/modules/$m.ko; done
mount -t xenfs xenfs /proc/xen 2>/dev/null

nid= tag= RES= CTL=
for a in $(cat /proc/cmdline); do
	case $a in
	nid=*) nid=${a#nid=} ;;
	sonuma_tag=*) tag=${a#sonuma_tag=} ;;
	sonuma_res=*) RES=${a#sonuma_res=} ;;
	sonuma_ctl=*) CTL=${a#sonuma_ctl=} ;;
	esac
done
domid=$(xenstore-read domid)
now() { cut -d' ' -f1 /proc/uptime; }
secs() { cut -d. -f1 /proc/uptime; }
show() { sed "s/^/  $1| /"; }
report() { # report LINE: appended to this guest's result node
	old=$(xenstore-read -R "$RES" 2>/dev/null)
	xenstore-write -R "$RES" "$old${old:+
}$1" || echo "guest $tag: cannot write $RES"
	echo "=== GUEST $tag: $1 (at $(now) s)"
}
pass() { report "PASS $1"; }
fail() { report "FAIL $1: $2"; }
end() {
	report END
	poweroff -f
}
# wait_for SECS CMD...: until CMD succeeds; 1 after SECS seconds.
wait_for() {
	deadline=$(($(secs) + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ $(secs) -ge $deadline ] && return 1
		sleep 1
	done
}
ctl_says() { xenstore-read -R "$CTL" | grep -qw "$1"; }
res_says() { xenstore-read -R "/sonuma/result/$1" | grep -q "^$2"; }
log_says() { grep -q "$1" /tmp/rmcd.log; }

echo "=== GUEST $tag: START node $nid, domain $domid, kernel $(uname -r), at $(now) s"
[ -n "$nid" ] && [ -n "$domid" ] && [ -n "$RES" ] ||
	{ echo "guest: no nid=, sonuma_res= or domid ($(cat /proc/cmdline))"; poweroff -f; }

# ---- rmc.ko and rmcd ---------------------------------------------------
if insmod /lib/modules/rmc.ko mynid=$nid; then
	pass insmod$tag
else
	fail insmod$tag "insmod rmc.ko mynid=$nid failed"
	end
fi
mkdir -p /run/sonuma /dev/shm /etc
mount -t tmpfs -o mode=0700 tmpfs /run/sonuma
mount -t tmpfs tmpfs /dev/shm
cat >/etc/rmc.conf <<'EOF'
fabric = { name = "xen"; cluster = "test"; };
model = { name = "fixed"; latency_ns = 1000.0; };
EOF
export SONUMA_RUNDIR=/run/sonuma SONUMA_NODE=$nid
rmcd -c /etc/rmc.conf 2 $nid >/tmp/rmcd.log 2>&1 &
rmcd_pid=$!
if wait_for 60 log_says "fabric xen: node $nid is domain $domid"; then
	pass rmcd$tag
else
	show rmcd </tmp/rmcd.log
	fail rmcd$tag "rmcd 2 $nid did not come up with the xen fabric: $(tail -n 1 /tmp/rmcd.log)"
	end
fi
# One look a second: nodes_up's own loop (every 5 ms) would keep this
# guest's only vCPU busy, and with it the CPU dom0 creates guests on.
if wait_for 240 nodes_up 0; then
	pass peers$tag
else
	show rmcd </tmp/rmcd.log
	fail peers$tag "node $nid's rmcd does not reach every node through grants"
	end
fi

# check FILE OFFSET: every page i printed "read this number: i + OFFSET".
check() {
	awk -v off="$2" '
		/read this number:/ { n++; if ($NF != $2 + off) { bad++; if (bad < 5) print "page " $2 ": " $NF " expected " $2 + off } seen[$2] = 1 }
		END { for (i = 0; i < 4096; i++) if (!(i in seen)) missing++
		      if (n != 4096 || bad || missing) { printf "%d values, %d wrong, %d pages missing\n", n, bad, missing; exit 1 } }' "$1"
}
# original_flow R W A WHERE: bench_sync 1 r, bench_sync 1 w and bench_async
# 1 r, every value checked; passes (or fails) R, W and A, WHERE in messages.
original_flow() {
	if run "$1" bench_sync 1 r && out=$(check "/tmp/$1.out" 0); then
		pass "$1"
	else
		fail "$1" "bench_sync 1 r$4: $(tail -n 1 "/tmp/$1.out") $out"
	fi
	if run "$2" bench_sync 1 w && [ "$(grep -c "wrote this number" "/tmp/$2.out")" = 4096 ]; then
		pass "$2"
	else
		fail "$2" "bench_sync 1 w$4: $(tail -n 1 "/tmp/$2.out")"
	fi
	if run "$3" bench_async 1 r && out=$(check "/tmp/$3.out" 65536) &&
	   ! grep -q failed "/tmp/$3.out"; then
		pass "$3"
	else
		fail "$3" "bench_async 1 r$4: $(grep -m 1 failed "/tmp/$3.out") $out"
	fi
}
# cpu: this guest's CPU time so far (/proc/stat, in 1/100 s): user+nice,
# system (with irq and softirq), idle (with iowait), steal.
cpu() { awk '/^cpu / { print $2 + $3, $4 + $7 + $8, $5 + $6, $9 }' /proc/stat; }
# run NAME CMD...: runs a program of the flow (240 s at most), output kept;
# says how long it took and where the guest's CPU time went meanwhile
# (steal: Xen ran something else on this vCPU's CPU).
run() {
	name=$1
	shift
	rc0=$(cpu) rt0=$(now)
	timeout 240 "$@" >/tmp/$name.out 2>&1
	rc=$?
	echo "$rt0 $(now) $rc0 $(cpu)" | awk -v n="$name" -v rc=$rc '{
		printf "%s: exit %d in %.1f s; CPU s: user %.1f, system %.1f, idle %.1f, steal %.1f\n",
			n, rc, $2 - $1, ($7 - $3) / 100, ($8 - $4) / 100, ($9 - $5) / 100, ($10 - $6) / 100 }' |
		show time
	tail -n 3 /tmp/$name.out | show "$name"
	return $rc
}
stop_rmcd() {
	kill -TERM $rmcd_pid
	wait $rmcd_pid
	rc=$?
	show rmcd </tmp/rmcd.log
	if [ $rc = 0 ]; then
		pass rmcd-stop$tag
	else
		fail rmcd-stop$tag "rmcd exited $rc after SIGTERM"
	fi
}

# ---- node 1: the server ------------------------------------------------
if [ "$nid" = 1 ]; then
	if run server bench_server && grep -q "wrote 4096 page numbers" /tmp/server.out; then
		pass server$tag
	else
		fail server$tag "bench_server: $(tail -n 1 /tmp/server.out)"
	fi
	# Until dom0 says stop (or destroys this domain).
	wait_for 900 ctl_says stop
	stop_rmcd
	end
fi

# ---- node 0: the original's flow ------------------------------------------
wait_for 240 res_says 1 "PASS server" || fail flow "node 1 never said its bench_server ran"
original_flow sync-read sync-write async-read ""

# ---- node 1's domain destroyed while node 0 reads from it ----------------
# Reads of node 1's context (bench_sync 1 r, every value checked: node 1
# holds what bench_sync 1 w wrote) run back to back until one run fails;
# dom0 destroys node 1's domain meanwhile.  In the run it cuts, the reads
# before the destruction return the right values, every later one fails
# with "No route to host" (EHOSTUNREACH), and the run ends.
mid_reads() {
	deadline=$(($(secs) + 300))
	runs=0 rc=timeout
	while [ $(secs) -lt $deadline ]; do
		timeout 240 bench_sync 1 r >/tmp/mid.out 2>&1
		rc=$?
		runs=$((runs + 1))
		[ $rc = 0 ] || break
		check /tmp/mid.out 65536 >/tmp/mid.check || {
			rc=wrong
			break
		}
	done
	echo "$runs $rc" >/tmp/mid.rc
}
# check_cut FILE OFFSET: the reads of FILE are right (i + OFFSET) up to a page,
# and every read from that page on failed with EHOSTUNREACH.
check_cut() {
	awk -v off="$2" '
		/read this number:/ { n++; v[$2] = $NF }
		/^operation [0-9]+ failed: / {
			f++; failed[$2] = 1
			if (first == "" || $2 + 0 < first + 0) first = $2
			m = $0; sub(/^operation [0-9]+ failed: /, "", m)
			if (m != "No route to host") { other++; why = m }
		}
		END {
			if (n != 4096) { printf "%d reads of 4096\n", n; exit 1 }
			if (!f) { print "no read failed"; exit 1 }
			if (other) { printf "%d reads failed otherwise: %s\n", other, why; exit 1 }
			for (i = 0; i < 4096; i++)
				if (i < first + 0 && (failed[i] || v[i] != i + off)) bad++
				else if (i >= first + 0 && !failed[i]) back++
			if (bad || back) { printf "%d wrong before the cut, %d right after it\n", bad, back; exit 1 }
			printf "%d reads right, then %d failed with EHOSTUNREACH\n", first, f
		}' "$1"
}
# fails_all FILE: every one of the 4096 requests of FILE failed, EHOSTUNREACH.
fails_all() {
	n=$(grep -c -E "failed: (No route to host|target node unreachable)$" "$1")
	[ "$n" = 4096 ] && [ $(grep -c failed "$1") = 4096 ]
}

mid_reads &
mid_pid=$!
report "WAIT destroy"
wait $mid_pid
read runs rc </tmp/mid.rc
tail -n 3 /tmp/mid.out | show mid
if ! wait_for 60 ctl_says destroyed; then
	fail destroy-inflight "reads to node 1 ended ($rc after $runs runs) before dom0 destroyed it: $(tail -n 1 /tmp/mid.out) $(cat /tmp/mid.check)"
elif [ $rc = 124 ]; then
	fail destroy-inflight "bench_sync 1 r hung when node 1's domain was destroyed (killed after 240 s)"
elif [ $rc = 1 ] && out=$(check_cut /tmp/mid.out 65536); then
	pass destroy-inflight
	echo "guest $tag: run $runs of bench_sync 1 r, cut by the destruction: $out"
else
	fail destroy-inflight "run $runs of bench_sync 1 r ended with $rc: $(check_cut /tmp/mid.out 65536) $(cat /tmp/mid.check)"
fi
# The RMC has let go of node 1: every request to it fails at once.
if wait_for 60 log_says "node 1: its rmcd (domain [0-9]*) is gone"; then
	t0=$(now)
	run gone_r bench_sync 1 r
	rc_r=$?
	run gone_w bench_sync 1 w
	rc_w=$?
	run gone_a bench_async 1 r
	rc_a=$?
	echo "guest $tag: sync read, sync write and async read to the destroyed node exited $rc_r, $rc_w, $rc_a in $t0 .. $(now) s"
	if [ $rc_r = 124 ] || [ $rc_w = 124 ] || [ $rc_a = 124 ]; then
		fail unreachable "a program of the flow hung against the destroyed node (killed after 240 s)"
	elif [ $rc_r = 1 ] && fails_all /tmp/gone_r.out && [ $rc_w = 1 ] && fails_all /tmp/gone_w.out &&
	     [ $rc_a = 0 ] && fails_all /tmp/gone_a.out; then
		pass unreachable
	else
		fail unreachable "against the destroyed node: sync read $rc_r ($(grep -c 'No route' /tmp/gone_r.out) of 4096 EHOSTUNREACH), sync write $rc_w ($(grep -c 'No route' /tmp/gone_w.out)), async read $rc_a ($(grep -c 'unreachable' /tmp/gone_a.out))"
	fi
else
	show rmcd </tmp/rmcd.log
	fail unreachable "node 0's rmcd never said node 1 was gone"
fi

# ---- a new guest for node 1 ------------------------------------------------
# Its bench_server wrote page numbers into a new context: the original's
# flow against it again.
report "WAIT rejoin"
if wait_for 300 ctl_says rejoined && wait_for 300 res_says 1 "PASS server" &&
   wait_for 60 nodes_up 0; then
	original_flow rejoin-read rejoin-write rejoin-async-read " to the new node 1"
else
	show rmcd </tmp/rmcd.log
	fail rejoin-read "the new guest of node 1 never served its context to node 0"
fi
stop_rmcd
end

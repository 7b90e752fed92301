#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of a node's PV guest in xen2.sh: loads rmc.ko, starts "rmcd 2 NID"
# with the xen fabric, and runs the original platform's flow (bench_server on
# node 1; bench_sync 1 r, bench_sync 1 w, bench_async 1 r on node 0, every
# value checked), then, on node 0, what happens when node 1's domain is
# destroyed and when a new guest for it joins.
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
if nodes_up 240; then
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
# run NAME CMD...: runs a program of the flow (240 s at most), output kept.
run() {
	name=$1
	shift
	timeout 240 "$@" >/tmp/$name.out 2>&1
	rc=$?
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
if run sync_r bench_sync 1 r && out=$(check /tmp/sync_r.out 0); then
	pass sync-read
else
	fail sync-read "bench_sync 1 r: $(tail -n 1 /tmp/sync_r.out) $out"
fi
if run sync_w bench_sync 1 w && [ $(grep -c "wrote this number" /tmp/sync_w.out) = 4096 ]; then
	pass sync-write
else
	fail sync-write "bench_sync 1 w: $(tail -n 1 /tmp/sync_w.out)"
fi
if run async_r bench_async 1 r && out=$(check /tmp/async_r.out 65536) &&
   ! grep -q failed /tmp/async_r.out; then
	pass async-read
else
	fail async-read "bench_async 1 r: $(grep -m 1 failed /tmp/async_r.out) $out"
fi

# ---- node 1's domain destroyed --------------------------------------------
report "WAIT destroy"
if wait_for 300 ctl_says destroyed; then
	t0=$(now)
	wait_for 60 log_says "node 1: its rmcd (domain [0-9]*) is gone"
	run gone bench_sync 1 r
	rc=$?
	echo "guest $tag: bench_sync 1 r to the destroyed node exited $rc in $t0 .. $(now) s"
	if [ $rc = 124 ]; then
		fail unreachable "bench_sync 1 r to a destroyed node hung (killed after 240 s)"
	elif [ $rc != 0 ] && grep -q "failed: No route to host" /tmp/gone.out &&
	     ! grep -q "read this number" /tmp/gone.out; then
		pass unreachable
	else
		fail unreachable "bench_sync 1 r to a destroyed node exited $rc: $(tail -n 1 /tmp/gone.out)"
	fi
else
	fail unreachable "dom0 never destroyed node 1"
fi

# ---- a new guest for node 1 ------------------------------------------------
report "WAIT rejoin"
if wait_for 300 ctl_says rejoined && wait_for 300 res_says 1 "PASS server" &&
   nodes_up 60; then
	if run rejoin bench_sync 1 r && out=$(check /tmp/rejoin.out 0); then
		pass rejoin
	else
		fail rejoin "bench_sync 1 r to the new node 1: $(tail -n 1 /tmp/rejoin.out) $out"
	fi
else
	show rmcd </tmp/rmcd.log
	fail rejoin "the new guest of node 1 never served its context to node 0"
fi
stop_rmcd
end

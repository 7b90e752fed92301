#!/bin/sh
# SPDX-License-Identifier: MIT
#
# xen-cluster.sh: an emulated soNUMA cluster as Xen PV guests, one per node,
# each pinned to the CPUs of one NUMA domain (so that Xen also takes its
# memory there), as the original platform ran it.  Run in dom0, as root.
#
#   xen-cluster.sh up      CONF      create every node's guest
#   xen-cluster.sh down    CONF      destroy them, remove the xenstore nodes
#   xen-cluster.sh rejoin  CONF N    a new guest for node N (after it died)
#   xen-cluster.sh status  CONF      the guests, their domains, where their
#                                    memory is, and what their rmcds published
#
# CONF is a shell file of settings (see the README, "The Xen platform"):
#   CLUSTER=demo            xenstore /local/sonuma/demo; rmc.conf's
#                           fabric = { name = "xen"; cluster = "demo"; }
#   NODES=2                 nodes, 0 .. NODES-1
#   KERNEL=/boot/vmlinuz-…  the guests' kernel (PV-capable: CONFIG_XEN)
#   RAMDISK=…               their initramfs (optional)
#   DISK=…                  an xl disk spec, "%N%" replaced by the node
#                           (optional), e.g. "/srv/node%N%.img,raw,xvda,rw"
#   ROOT=…                  root= for the kernel (optional)
#   MEMORY=2048             MiB per guest
#   VCPUS=2                 vCPUs per guest
#   NUMA="0 1"              NUMA node of each guest (default: node N % nodes)
#   EXTRA="console=hvc0"    more kernel arguments; nid=N is always added
#   MAX_GRANT_FRAMES=…      grant table frames per guest (default Xen's)
#
# Each guest learns its node from nid=N on its kernel command line, loads
# rmc.ko mynid=N and starts "rmcd NODES N" with the xen fabric.  Node N's
# xenstore directory /local/sonuma/CLUSTER/node/N is created here, readable
# by every guest and writable by node N's domain only.
set -eu

die() {
	echo "xen-cluster.sh: $*" >&2
	exit 1
}
usage() {
	sed -n '4,31p' "$0"
	exit "${1:-2}"
}

[ $# -ge 2 ] || usage
cmd=$1 conf=$2
shift 2
case $cmd in up|down|rejoin|status) ;; -h|--help) usage 0 ;; *) usage ;; esac
[ -r "$conf" ] || die "$conf: cannot read the cluster's settings"

CLUSTER= NODES= KERNEL= RAMDISK= DISK= ROOT= MEMORY=1024 VCPUS=1 NUMA= EXTRA= MAX_GRANT_FRAMES=
# shellcheck disable=SC1090
. "$(readlink -f "$conf")"
[ -n "$CLUSTER" ] || die "$conf: CLUSTER is not set"
case $CLUSTER in *[!A-Za-z0-9_-]*) die "$conf: CLUSTER=\"$CLUSTER\": letters, digits, '-' and '_' only" ;; esac
case $NODES in ''|*[!0-9]*) die "$conf: NODES=\"$NODES\" is not a number of nodes" ;; esac
[ "$NODES" -ge 1 ] && [ "$NODES" -le 64 ] || die "$conf: NODES=$NODES: 1 to 64"

[ "$(id -u)" = 0 ] || die "run as root in dom0"
for t in xl xenstore-write xenstore-chmod xenstore-rm xenstore-ls; do
	command -v $t >/dev/null || die "$t not found: install xen-utils and xenstore-utils"
done
xl info >/dev/null 2>&1 || die "xl info fails: is this dom0 of a running Xen, with xenstored up?"

XS=/local/sonuma/$CLUSTER
STATE=${XEN_CLUSTER_DIR:-/var/lib/sonuma}/$CLUSTER
name_of() { echo "$CLUSTER-$1"; }
domid_of() { xl domid "$(name_of "$1")" 2>/dev/null; }
host_nodes=$(xl info | awk '/^nr_nodes/ { print $3 }')

numa_of() { # the NUMA node guest N is pinned to
	if [ -n "$NUMA" ]; then
		v=$(echo "$NUMA" | awk -v i=$(($1 + 1)) '{ print $i }')
		[ -n "$v" ] || die "$conf: NUMA=\"$NUMA\" names no NUMA node for node $1"
		echo "$v"
	else
		echo $(($1 % host_nodes))
	fi
}

write_cfg() { # write_cfg N: the guest's xl config
	n=$1 numa=$(numa_of "$1")
	[ "$numa" -lt "$host_nodes" ] ||
		die "node $n: NUMA node $numa does not exist (this host has $host_nodes)"
	[ -r "$KERNEL" ] || die "$conf: KERNEL=$KERNEL: cannot read it"
	mkdir -p "$STATE"
	{
		echo "name = \"$(name_of "$n")\""
		echo "type = \"pv\""
		echo "kernel = \"$KERNEL\""
		[ -n "$RAMDISK" ] && echo "ramdisk = \"$RAMDISK\""
		[ -n "$DISK" ] && echo "disk = [ \"$(echo "$DISK" | sed "s/%N%/$n/g")\" ]"
		[ -n "$ROOT" ] && echo "root = \"$ROOT\""
		echo "memory = $MEMORY"
		echo "maxmem = $MEMORY"
		echo "vcpus = $VCPUS"
		# Hard and soft affinity to the node's CPUs: Xen then allocates
		# the guest's memory on that node too.  (With a hard affinity
		# alone, xl's automatic NUMA placement still picks the soft one,
		# and with it where the memory goes: a second guest pinned to a
		# node got its memory, and soft affinity, on another.)
		echo "cpus = \"node:$numa\""
		echo "cpus_soft = \"node:$numa\""
		[ -n "$MAX_GRANT_FRAMES" ] && echo "max_grant_frames = $MAX_GRANT_FRAMES"
		echo "extra = \"$EXTRA nid=$n sonuma_cluster=$CLUSTER\""
		echo "on_poweroff = \"destroy\""
		echo "on_reboot = \"destroy\""
		echo "on_crash = \"destroy\""
	} >"$STATE/node$n.cfg"
}

# The node's xenstore directory, emptied and given to its domain: what a
# guest creates itself vanishes with it, and a new guest starts clean.
give_node() { # give_node N DOMID
	xenstore-rm "$XS/node/$1" 2>/dev/null || true
	xenstore-write "$XS/node/$1" "" &&
		xenstore-chmod "$XS/node/$1" r0 "b$2" ||
		die "node $1: cannot set up $XS/node/$1 for domain $2"
}

start_node() { # start_node N
	if d=$(domid_of "$1"); then
		die "node $1: $(name_of "$1") is running already (domain $d): \"rejoin\" replaces it"
	fi
	write_cfg "$1"
	xl create -p "$STATE/node$1.cfg" || die "node $1: xl create $STATE/node$1.cfg failed"
	d=$(domid_of "$1") || die "node $1: its domain vanished after xl create"
	if ! give_node "$1" "$d" || ! xl unpause "$(name_of "$1")"; then
		xl destroy "$(name_of "$1")" || true
		die "node $1: could not start domain $d"
	fi
	echo "node $1: domain $d ($(name_of "$1")), CPUs and memory of NUMA node $(numa_of "$1")"
}

stop_node() { # stop_node N
	if domid_of "$1" >/dev/null; then
		xl destroy "$(name_of "$1")" || echo "node $1: xl destroy failed" >&2
	fi
	xenstore-rm "$XS/node/$1" 2>/dev/null || true
}

case $cmd in
up)
	xenstore-write "$XS/node" "" && xenstore-chmod "$XS" r0 && xenstore-chmod "$XS/node" r0 ||
		die "cannot create $XS in xenstore"
	n=0
	while [ $n -lt "$NODES" ]; do
		start_node $n || { echo "tearing down what was started" >&2; "$0" down "$conf"; exit 1; }
		n=$((n + 1))
	done
	;;
down)
	n=0
	while [ $n -lt "$NODES" ]; do
		stop_node $n
		n=$((n + 1))
	done
	xenstore-rm "$XS" 2>/dev/null || true
	;;
rejoin)
	[ $# = 1 ] || usage
	case $1 in ''|*[!0-9]*) die "rejoin: \"$1\" is not a node" ;; esac
	[ "$1" -lt "$NODES" ] || die "rejoin: node $1 does not exist (NODES=$NODES)"
	stop_node "$1"
	start_node "$1"
	;;
status)
	xl list | awk -v p="^$CLUSTER-" 'NR == 1 || $1 ~ p'
	xl debug-keys u && xl dmesg | tail -n $((3 * (NODES + 1) + 8)) | grep -E 'Domain|Node'
	xenstore-ls -p "$XS" 2>/dev/null || echo "no $XS in xenstore"
	;;
esac

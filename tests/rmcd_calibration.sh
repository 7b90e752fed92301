#!/bin/bash
# rmcd and the calibration file: a corrupt one is refused naming the file and
# line, one from another machine is refused unless accepted explicitly, a
# missing one gives a clear warning and conservative defaults, a valid one
# is used (its TSC rate and floor show in the log), and one taken while the
# machine looked disturbed is used with a warning.  With the ucx fabric
# (node 0 of a cluster on 127.0.0.1, when rmcd has the fabric): a missing
# fabric section is said once, a section of this node's link is used and
# warns for a model below it and not above, one of other transports is
# used with a warning, one of another node is not, and a malformed one is
# refused naming the file, the line and the field.
# Usage: rmcd_calibration.sh RMCD SONUMA_CALIBRATE
set -u
rmcd=$1 cal=$2
dir=$(mktemp -d /tmp/sonuma-test-cal.XXXXXX)
pid=
trap '[[ -n $pid ]] && kill -KILL $pid 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; [[ -f $dir/log ]] && sed 's/^/  log| /' "$dir/log"; exit 1; }
pass() { echo "ok: $*"; }

# Starts rmcd with the given arguments; "up" when its sockets appear within
# 5 s, "exit N" when it exits first.
try() {
	rm -rf "$dir/run"
	"$rmcd" -r "$dir/run" "$@" 2 >"$dir/log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		if ! kill -0 $pid 2>/dev/null; then
			wait $pid; echo "exit $?"; pid=; return
		fi
		[[ -S $dir/run/node1.sock ]] && { kill -TERM $pid; wait $pid; pid=; echo up; return; }
		sleep 0.05
	done
	echo timeout
}

"$cal" --quick --no-floor -o "$dir/good.cfg" >/dev/null || fail "sonuma-calibrate could not write a file"

r=$(try -C "$dir/good.cfg")
[[ $r == up ]] || fail "a valid calibration was not accepted ($r)"
grep -q "calibration $dir/good.cfg" "$dir/log" || fail "the log does not say which calibration is used"
pass "valid calibration used"
grep -q "looked disturbed" "$dir/log" && fail "a quiet calibration was said to be disturbed"

# One taken while the machine looked disturbed: used, with a warning saying why.
grep -q "disturbed = false;" "$dir/good.cfg" || fail "the calibration has no sanity section"
sed 's/disturbed = false;/disturbed = true;\n  why = "a test says so";/' "$dir/good.cfg" > "$dir/disturbed.cfg"
r=$(try -C "$dir/disturbed.cfg")
[[ $r == up ]] || fail "a calibration of a disturbed machine was not used ($r)"
grep -q "disturbed.cfg: the machine looked disturbed .*(a test says so)" "$dir/log" ||
	fail "no warning about the disturbed calibration"
pass "disturbed calibration used, with a warning"

sed 's/^version = 1;/version = 1;\nbogus =/' "$dir/good.cfg" > "$dir/corrupt.cfg"
r=$(try -C "$dir/corrupt.cfg")
[[ $r == "exit 1" ]] || fail "a corrupt calibration did not stop rmcd ($r)"
grep -q "corrupt.cfg:[0-9]" "$dir/log" || fail "the error does not name the file and line"
[[ ! -e $dir/run/node0.sock ]] || fail "sockets left behind"
pass "corrupt calibration refused: $(head -1 "$dir/log")"

sed 's/cpu_model = "[^"]*"/cpu_model = "Some Other CPU 9000"/' "$dir/good.cfg" > "$dir/foreign.cfg"
grep -q "Some Other CPU" "$dir/foreign.cfg" || fail "test could not rewrite cpu_model"
r=$(try -C "$dir/foreign.cfg")
[[ $r == "exit 1" ]] || fail "a calibration of another machine was accepted ($r)"
grep -q "another machine" "$dir/log" || fail "the refusal does not say why"
pass "foreign calibration refused"
r=$(try -C "$dir/foreign.cfg" --accept-foreign-calibration)
[[ $r == up ]] || fail "--accept-foreign-calibration did not accept it ($r)"
grep -q "accepted as asked" "$dir/log" || fail "accepting a foreign calibration is not said"
pass "foreign calibration accepted when asked"

r=$(SONUMA_CALIBRATION=$dir/none.cfg try)
[[ $r == up ]] || fail "rmcd did not run without a calibration ($r)"
grep -q "no calibration file at $dir/none.cfg" "$dir/log" || fail "no warning about the missing calibration"
pass "missing calibration: warned, conservative defaults"

r=$(try -C "$dir/missing.cfg")
[[ $r == "exit 1" ]] || fail "an explicitly named missing calibration did not stop rmcd ($r)"
pass "explicitly named missing calibration refused"
# A model asking for less than the floor: rmcd warns, naming the sizes.
sed 's/^floor = ( );/floor = ( { size = 64; median_ns = 500.0; p99_ns = 600.0; }, { size = 4096; median_ns = 900.0; p99_ns = 1000.0; } );/' \
	"$dir/good.cfg" > "$dir/floor.cfg"
grep -q "median_ns = 500" "$dir/floor.cfg" || fail "test could not add a floor"
printf 'model = { name = "fixed"; latency_ns = 700; };\n' > "$dir/fixed.conf"
r=$(try -C "$dir/floor.cfg" -c "$dir/fixed.conf")
[[ $r == up ]] || fail "rmcd with a floor above the model did not start ($r)"
grep -q "less than this machine's calibrated floor for reads of .*1024 B" "$dir/log" ||
	fail "no warning naming the sizes below the floor"
grep -q "64 B (700" "$dir/log" && fail "64 B (floor 500 ns) is above the floor, yet named"
pass "sizes below the floor named: $(grep -o 'reads of [^:]*' "$dir/log" | cut -c1-80)..."
# ---- the ucx fabric's floor: a section of the calibration file ----------
# Node 0 of a two-node ucx cluster on 127.0.0.1 (no peer needed: the
# checks come at start).  "up" once it listens, "exit N" when it exits.
port=$((20000 + $$ % 20000))
a0="127.0.0.1:$port" a1="127.0.0.1:$((port + 1))"
ucx_conf() { # FILE LATENCY_NS
	cat >"$1" <<EOF
cluster = { nodes = 2; context_pages = 256; lock_memory = false; };
model = { name = "fixed"; latency_ns = $2; };
fabric = { name = "ucx"; nodes = ["$a0", "$a1"]; };
EOF
}
try0() {
	rm -rf "$dir/run"
	UCX_TLS=${UCX_TLS:-tcp} "$rmcd" -r "$dir/run" "$@" 2 0 >"$dir/log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		if ! kill -0 $pid 2>/dev/null; then
			wait $pid; echo "exit $?"; pid=; return
		fi
		grep -q "listening on" "$dir/log" && { kill -TERM $pid; wait $pid; pid=; echo up; return; }
		sleep 0.05
	done
	echo timeout
}
# section FILE: good.cfg with a ucx section from node 0 to node 1 over tcp:
# reads 50 us, writes 70 us at 64 B; 900 and 1100 us at 1 MiB.
section() {
	cp "$dir/good.cfg" "$1"
	cat >>"$1" <<EOF
fabrics = ( { name = "ucx"; node = 0; address = "$a0"; peer_node = 1; peer = "$a1";
              transports = "tcp"; date = "2026-01-01T00:00:00Z"; outstanding = 16;
              sizes = ( { size = 64; read_ns = 50000.0; read_p10_ns = 45000.0;
                          read_p90_ns = 60000.0; read_p99_ns = 90000.0; write_ns = 70000.0;
                          write_p10_ns = 65000.0; write_p90_ns = 80000.0;
                          write_p99_ns = 99000.0; read_gbps = 0.0013; write_gbps = 0.0009; },
                        { size = 1048576; read_ns = 900000.0; read_p10_ns = 850000.0;
                          read_p90_ns = 990000.0; read_p99_ns = 1500000.0;
                          write_ns = 1100000.0; write_p10_ns = 1000000.0;
                          write_p90_ns = 1200000.0; write_p99_ns = 1900000.0;
                          read_gbps = 1.1; write_gbps = 0.95; } ); } );
EOF
}
passed=8
ucx_conf "$dir/ucx-low.conf" 30000
ucx_conf "$dir/ucx-high.conf" 2000000
r=$(try0 -C "$dir/good.cfg" -c "$dir/ucx-low.conf")
if grep -q "built without the ucx fabric" "$dir/log"; then
	echo "skip: this rmcd has no ucx fabric: its calibration is not checked"
else
	[[ $r == up ]] || fail "node 0 of a ucx cluster did not start ($r)"
	n=$(grep -c "no floor of the ucx fabric from node 0 ($a0)" "$dir/log" || true)
	((n == 1)) || fail "said $n times that the calibration has no floor of the ucx fabric"
	grep -q "calibrated floor" "$dir/log" && fail "a floor used without a fabric section"
	pass "no fabric section: said once, and no shared-memory floor used for the fabric"

	section "$dir/fabric.cfg"
	r=$(try0 -C "$dir/fabric.cfg" -c "$dir/ucx-low.conf")
	[[ $r == up ]] || fail "rmcd with a fabric section did not start ($r)"
	grep -qF "ucx fabric floor to node 1 ($a1): 64 B read 50.0 us, write 70.0 us" "$dir/log" ||
		fail "the fabric section is not said to be used"
	grep -qF "less than the ucx fabric's calibrated floor to node 1 ($a1) for reads of 64 B (30.0 < 50.0 us)" "$dir/log" ||
		fail "no warning for reads below the fabric's floor"
	grep -qF "for writes of 64 B (30.0 < 70.0 us)" "$dir/log" ||
		fail "no warning for writes below the fabric's floor"
	grep -q "no floor of the ucx fabric" "$dir/log" && fail "a section in use said to be missing"
	pass "a model below the fabric's floor: warned for reads and writes"
	r=$(try0 -C "$dir/fabric.cfg" -c "$dir/ucx-high.conf")
	[[ $r == up ]] || fail "rmcd with a model above the fabric's floor did not start ($r)"
	grep -q "calibrated floor" "$dir/log" && fail "warned with a model above the floor"
	pass "a model above the fabric's floor: no warning"

	# The section of other transports is used, with a warning; one
	# measured from another node is not.
	r=$(UCX_TLS=rc,self try0 -C "$dir/fabric.cfg" -c "$dir/ucx-low.conf")
	grep -q "measured with UCX_TLS tcp, this rmcd runs with rc,self" "$dir/log" ||
		fail "a section of other transports used without a word"
	sed "s/node = 0; address = \"$a0\"; peer_node = 1; peer = \"$a1\"/node = 1; address = \"$a1\"; peer_node = 0; peer = \"$a0\"/" \
		"$dir/fabric.cfg" >"$dir/other.cfg"
	r=$(try0 -C "$dir/other.cfg" -c "$dir/ucx-low.conf")
	grep -q "no floor of the ucx fabric from node 0" "$dir/log" ||
		fail "node 1's section was taken for node 0's"
	pass "sections of other transports and of another node told apart"

	# A malformed section: refused, naming the file, the line and the field.
	sed '0,/read_ns = 50000.0;/s//read_ns = -50000.0;/' "$dir/fabric.cfg" >"$dir/badfab.cfg"
	r=$(try0 -C "$dir/badfab.cfg" -c "$dir/ucx-low.conf")
	[[ $r == "exit 1" ]] || fail "a malformed fabric section did not stop rmcd ($r)"
	grep -q "badfab.cfg:[0-9]*: fabrics\[0\]\.sizes\[0\]\.read_ns: must be between" "$dir/log" ||
		fail "the error does not name the file, line and field"
	sed 's/transports = "tcp"; //' "$dir/fabric.cfg" >"$dir/badfab2.cfg"
	r=$(try0 -C "$dir/badfab2.cfg" -c "$dir/ucx-low.conf")
	[[ $r == "exit 1" ]] || fail "a fabric section without transports did not stop rmcd ($r)"
	grep -q "badfab2.cfg:[0-9]*: missing fabrics\[0\]\.transports" "$dir/log" ||
		fail "the error does not name the missing field"
	pass "malformed fabric sections refused: $(grep -o 'badfab2.cfg:.*' "$dir/log" | head -1)"
	passed=$((passed + 5))
fi
echo "$passed passed, 0 failed"

#!/bin/bash
# rmcd and the calibration file: a corrupt one is refused naming the file and
# line, one from another machine is refused unless accepted explicitly, a
# missing one gives a clear warning and conservative defaults, a valid one is
# used (its TSC rate and floor show in the log), and one taken while the
# machine looked disturbed is used with a warning.
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
echo "8 passed, 0 failed"

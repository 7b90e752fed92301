#!/bin/bash
# Who may attach: only rmcd's own user, or a user listed in
# security.allow_uids (peer credentials checked on every connection); the
# run directory is never world-writable.  Needs root to act as another user
# (setpriv); skipped with the reason otherwise.
# Usage: isolation.sh RMCD SONUMA_RUN
set -u
rmcd=$1 run=$2
if [[ $(id -u) -ne 0 ]] || ! command -v setpriv >/dev/null; then
	echo "SKIP: needs root and setpriv to connect as another user"
	exit 77
fi
dir=$(mktemp -d /tmp/sonuma-iso.XXXXXX)
chmod 0755 "$dir"
pid=
trap '[[ -n $pid ]] && kill -KILL $pid 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; [[ -f $dir/log ]] && sed 's/^/  rmcd| /' "$dir/log"; exit 1; }
pass() { echo "ok: $*"; }
passed=0

start() { # config text
	printf '%s\n' "$1" > "$dir/rmc.conf"
	"$rmcd" -c "$dir/rmc.conf" -r "$dir/run" 2 >"$dir/log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[[ -S $dir/run/node1.sock ]] && return 0
		kill -0 $pid 2>/dev/null || fail "rmcd did not start"
		sleep 0.05
	done
	fail "rmcd did not come up"
}
stop() { kill -TERM $pid; wait $pid; pid=; }
# The build tree may sit where other users cannot enter (a clone in a
# private temporary directory): uid 65534 runs a copy of sonuma-run and of
# the libsonuma it loads, so that only rmcd can refuse it.
mkdir "$dir/bin" && cp "$run" "$dir/bin/" || fail "cannot copy $run"
lib=$(ldd "$run" | awk '$1 ~ /^libsonuma/ { print $3 }')
[[ -f $lib ]] || fail "$run: no libsonuma in its ldd output"
cp "$lib" "$dir/bin/" && chmod -R a+rX "$dir/bin" || fail "cannot copy $lib"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env LD_LIBRARY_PATH="$dir/bin" "$dir/bin/$(basename "$run")" "${@:2}"
}

# Default: only rmcd's user; the run directory is closed to others.
start 'cluster = { nodes = 2; context_pages = 16; max_transfer = 65536; lock_memory = false; };'
mode=$(stat -c %a "$dir/run")
[[ $mode == 700 ]] || fail "run directory mode $mode, expected 700"
SONUMA_RUNDIR=$dir/run "$run" -n 0 -- true || fail "rmcd's own user could not attach"
if SONUMA_RUNDIR=$dir/run as_nobody "$run" -n 0 -- true 2>"$dir/err"; then
	fail "another user attached to the default rmcd"
fi
grep -qi "permission denied" "$dir/err" ||
	fail "another user was not refused for want of permission: $(cat "$dir/err")"
pass "another user cannot reach the run directory ($(head -c 100 "$dir/err"))"
passed=$((passed + 1))
stop

# Other users allowed in: the directory opens (not writable), the check is
# the peer credentials: uid 65534 is refused while 12345 is the one allowed.
start 'cluster = { nodes = 2; context_pages = 16; max_transfer = 65536; lock_memory = false; };
security = { allow_uids = [12345]; };'
mode=$(stat -c %a "$dir/run")
[[ $mode == 711 ]] || fail "run directory mode $mode, expected 711"
if SONUMA_RUNDIR=$dir/run as_nobody "$run" -n 0 -- true 2>"$dir/err"; then
	fail "uid 65534 attached although only 12345 is allowed"
fi
grep -q "refused a connection from uid 65534" "$dir/log" || fail "rmcd did not log the refusal"
pass "uid 65534 refused by peer credentials, and logged"
passed=$((passed + 1))
stop

start 'cluster = { nodes = 2; context_pages = 16; max_transfer = 65536; lock_memory = false; };
security = { allow_uids = [65534]; };'
SONUMA_RUNDIR=$dir/run as_nobody "$run" -n 1 -- true 2>"$dir/err" ||
	fail "uid 65534, allowed, could not attach: $(cat "$dir/err")"
pass "an allowed user attaches"
passed=$((passed + 1))
stop
echo "$passed passed, 0 failed"

#!/bin/bash
# Sets everything up and runs the whole test suite: the Criterion suites,
# the integration and workflow tests, the soak, the two-NUMA-node QEMU guest,
# then the suite again under ASan+UBSan and the queue/RMC suites under TSan,
# and a short run of each fuzz harness.
# Arguments go to the first `meson test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
scripts/build.sh
meson test -C build --print-errorlogs "$@"
[[ $# -gt 0 ]] && exit 0
bash scripts/sanitize.sh
if [[ -x fuzz/ci.sh ]]; then
	bash fuzz/ci.sh
fi

#!/bin/bash
# SPDX-License-Identifier: MIT
# The fuzzers' short run for the test suite: builds the harnesses
# (build-fuzz, clang + ASan + UBSan), replays every input saved under
# fuzz/crashes/HARNESS/, then fuzzes each harness for 20 s (FUZZ_CI_TIME)
# from its seed corpus alone.  Prints executions, coverage and findings per
# harness; exits non-zero on any crash, leak, timeout, sanitizer report or
# failed check, and when a saved input still fails.
#
#   fuzz/ci.sh [--build-dir DIR]
set -uo pipefail
exec "$(dirname "$0")/run.sh" --time "${FUZZ_CI_TIME:-20}" --fresh --replay "$@"

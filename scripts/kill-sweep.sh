#!/usr/bin/env bash
# The full kill sweep (acceptance-tests/tests/kill_sweep.rs): SIGKILL applies
# of progressive_rollout at random moments, check what they left, apply again
# and check that it converges. The test command runs 3 points per sweep
# test; this runs POINTS per test (two tests, in parallel: 2 x POINTS kills)
# and writes one line per kill to target/kill-sweep.log. Each point takes
# about 20 s, most of it waiting for the killed apply's lease to lapse.
# Usage: scripts/kill-sweep.sh [POINTS] [SEED]   (defaults 60 and 1)
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/bootstrap.sh"
cargo build -p terraform-provider-progressive
KILL_POINTS=${1:-60} KILL_SEED=${2:-1} cargo nextest run -p acceptance-tests --test kill_sweep \
    --profile sweep --no-capture 2>&1 | tee target/kill-sweep.log
"$root/.venv/bin/python" "$root/scripts/kill-sweep-summary.py" target/kill-sweep.log

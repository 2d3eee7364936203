#!/usr/bin/env bash
# The full kill sweep (acceptance-tests/tests/kill_sweep.rs): SIGKILL applies
# of progressive_rollout at random moments, check what they left, apply again
# and check that it converges. The test command runs 3 points in each of the
# two sweep tests; this runs the two tests twice over, with seeds SEED and
# SEED + 1000, all four at once, POINTS points each (4 x POINTS kills), and
# writes one line per kill to target/kill-sweep.log, then a summary by phase
# (scripts/kill-sweep-summary.py). A point takes about a minute, most of it
# waiting for the killed apply's lease to lapse and applying again.
# Usage: scripts/kill-sweep.sh [POINTS] [SEED]   (defaults 30 and 1)
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/bootstrap.sh"
cargo build -p terraform-provider-progressive
cargo nextest run -p acceptance-tests --test kill_sweep --no-run
points=${1:-30}
seed=${2:-1}
status=0
for s in "$seed" "$((seed + 1000))"; do
    KILL_POINTS=$points KILL_SEED=$s cargo nextest run -p acceptance-tests --test kill_sweep \
        --profile sweep --no-capture >"target/kill-sweep-$s.log" 2>&1 &
done
wait -n || status=1
wait -n || status=1
cat "target/kill-sweep-$seed.log" "target/kill-sweep-$((seed + 1000)).log" >target/kill-sweep.log
grep -E '^ +[0-9]+ |kill sweep|FAIL|panicked' target/kill-sweep.log || true
"$root/.venv/bin/python" "$root/scripts/kill-sweep-summary.py" target/kill-sweep.log
exit $status

#!/usr/bin/env bash
# Runs the fault tests (acceptance-tests/tests/faults.rs: 30% of the
# provider's AWS calls throttled, failed, reset or slow) over many seeds of
# the fault proxy's draws, where the test command runs one seed. Usage:
#   scripts/fault-sweep.sh [SEEDS]   (default 20; each round takes about 25 s)
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seeds=${1:-20}
"$root/scripts/bootstrap.sh"
cargo build -p terraform-provider-progressive
failed=0
for ((round = 0; round < seeds; round++)); do
    # Each test adds its own offset to FAULT_SEED; rounds step past them.
    if ! FAULT_SEED=$((round * 10)) cargo nextest run -p acceptance-tests --test faults --no-capture >"target/fault-sweep-$round.log" 2>&1; then
        echo "round $round: FAILED (target/fault-sweep-$round.log)"
        failed=$((failed + 1))
    else
        echo "round $round: passed; $(grep -h '^faults:' "target/fault-sweep-$round.log" | tr '\n' ' ')"
    fi
done
echo "$((seeds - failed)) of $seeds rounds passed"
[ "$failed" -eq 0 ]

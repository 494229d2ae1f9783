#!/usr/bin/env bash
# Runs every test of mediaproxy.so. Installs what the tests need first (scripts/deps.sh).
# Tests that need a real OpenSIPS use OPENSIPS_BIN (or opensips on PATH) and say SKIPPED
# loudly when there is none; the module is then built for the documented default (4.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ -n "${OPENSIPS_BIN:-}" ] || command -v opensips >/dev/null 2>&1; then
  echo "test.sh: OpenSIPS tests run against ${OPENSIPS_BIN:-$(command -v opensips)}"
else
  echo "test.sh: *** no OpenSIPS binary (OPENSIPS_BIN unset, none on PATH): the tests that load"
  echo "test.sh: *** the module into a real OpenSIPS will print SKIPPED and do nothing ***"
fi
# the real-OpenSIPS tests load target/debug/libmediaproxy.so: `cargo test` alone builds only the rlib
cargo build --lib
cargo test --all-targets "$@"

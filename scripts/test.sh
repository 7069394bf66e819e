#!/usr/bin/env bash
# Every test, on a fresh machine: install, build, then the whole suite (root
# tests included: with CI=true a missing prerequisite fails instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node_modules/.bin/bun test/support/sweep.ts >/dev/null 2>&1 || true
exec node_modules/.bin/bun test --timeout 60000 "$@"

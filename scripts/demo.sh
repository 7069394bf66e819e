#!/usr/bin/env bash
# The main job on a fresh machine: install, build, then hot-mount a real
# device into running containers and read it from inside.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/bun scripts/demo.ts

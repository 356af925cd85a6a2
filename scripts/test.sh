#!/usr/bin/env bash
# Set everything up and run the whole test suite (the slow end-to-end and embedded-model
# tests included). This is what CI runs (.ci/run calls it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
exec .venv/bin/python -m pytest "$@"

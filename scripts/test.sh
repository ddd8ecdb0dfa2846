#!/usr/bin/env bash
# Install everything plus the test tools, then run the whole test suite (CI runs this).
# Tiers: tests marked `slow` (dataset builds, training runs, torchrun, long simulations,
# detections and benchmark scripts; tests/conftest.py marks every test that uses the
# face_dataset, tiny_stage2_run or tiny_swapper_run fixtures) run here too. For the fast
# inner loop (under two minutes on 2 cores) skip them:
#   bash scripts/test.sh -m "not slow"
# and run only them with -m slow. pyproject.toml registers the markers (--strict-markers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
exec .venv/bin/python -m pytest -q "$@"

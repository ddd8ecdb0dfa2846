#!/usr/bin/env bash
# Install everything plus the test tools, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
exec .venv/bin/python -m pytest -q "$@"

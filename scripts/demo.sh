#!/usr/bin/env bash
# Install everything, then run the main job on the built-in default: simulated
# light-stage sessions through validation and the reflectance solver, with accuracy
# against the simulator's ground truth. Output in ./demo_out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/id2r demo -o demo_out "$@"

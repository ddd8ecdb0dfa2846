#!/usr/bin/env bash
# Codebook ablation on one GPU: stage 1, then stage 2 with one codebook per
# domain and with one joint codebook, each for a wall-time budget, then the evaluation on
# the held-out split. Runs from a source tree (no install needed: torch, numpy,
# safetensors, opencv, pyyaml, click).
#
#   bash scripts/gpu_codebook_ablation.sh DATASET RUNS_DIR [S1_SECONDS] [S2_SECONDS] [DEVICE]
#
# Writes RUNS_DIR/{s1,s2_multi,s2_joint} and RUNS_DIR/ablation.json, RUNS_DIR/ablation.txt.
set -euo pipefail
data=$1
runs=$2
s1=${3:-200}
s2=${4:-140}
device=${5:-cuda}
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
id2r=("$py" -m id2reflectance.cli.main)
mkdir -p "$runs"
# a stage stopped by its budget keeps its newest checkpoint (every train.ckpt_interval steps)
budget() {
    local s=$1 rc=0
    shift
    timeout -s INT "$s" "$@" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then echo "failed (exit $rc): $*" >&2; return "$rc"; fi
}
cfg="$here/configs/codebook/gpu_ablation_128.yaml"
cfg_joint="$here/configs/codebook/gpu_ablation_128_joint.yaml"
budget "$s1" "${id2r[@]}" train codebook --stage 1 --config "$cfg" --dataset "$data" --out "$runs/s1" --device "$device" --no-progress
budget "$s2" "${id2r[@]}" train codebook --stage 2 --config "$cfg" --dataset "$data" --init "$runs/s1" --out "$runs/s2_multi" --device "$device" --no-progress
budget "$s2" "${id2r[@]}" train codebook --stage 2 --config "$cfg_joint" --dataset "$data" --init "$runs/s1" --out "$runs/s2_joint" --device "$device" --no-progress
"${id2r[@]}" eval codebook "$runs/s1" "$runs/s2_joint" "$runs/s2_multi" --dataset "$data" --device "$device" --json "$runs/ablation.json" | tee "$runs/ablation.txt"

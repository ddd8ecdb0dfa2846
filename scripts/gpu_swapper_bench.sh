#!/usr/bin/env bash
# The swapper's GPU figures that need only torch, numpy and safetensors (no dlib,
# Open3D or Dask, as on the lent GPU machine): swap + decode latency and throughput
# (benchmarks/bench_swap.py) and swapper training throughput (benchmarks/bench_train_swapper.py),
# presets tiny, cpu_128 and paper_512, fp32 and bf16 autocast. A few minutes on one GPU.
#
#   bash scripts/gpu_swapper_bench.sh [OUT_DIR]
#
# Writes OUT_DIR (default .)/bench_swap.txt and bench_train_swapper.txt. DEVICE (default cuda)
# and PRESETS (default: each benchmark's own list) override, e.g. DEVICE=cpu PRESETS=tiny.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-.}
device=${DEVICE:-cuda}
py=${PYTHON:-python3}
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
presets=()
if [ -n "${PRESETS:-}" ]; then presets=(--presets "$PRESETS"); fi
mkdir -p "$out"
"$py" "$here/benchmarks/bench_swap.py" --device "$device" --bf16 "${presets[@]}" | tee "$out/bench_swap.txt"
"$py" "$here/benchmarks/bench_train_swapper.py" --device "$device" --bf16 "${presets[@]}" | tee "$out/bench_train_swapper.txt"

#!/usr/bin/env bash
# Reduced-size injection-level ablation on a CPU: the tiny network at 64 px
# (decoder features at 8, 16, 32 and 64), so identity can be injected at 16+32 or at
# 16+32+64 (the paper's first two rows). Stage 1, a multi-domain stage 2 (stopped with a
# checkpoint after S2_S seconds, default 900, if its 2000 steps take longer), then the two
# swappers side by side with the same config but the levels (400 steps, or SWAP_S seconds
# each, default 900), then `id2r eval swapper` on both. About 45 minutes on 2 cores.
#
#   bash scripts/cpu_levels_ablation.sh DATASET OUT [S2_S] [SWAP_S]
set -euo pipefail
data=$(cd "$1" && pwd)
out=$2
s2=${3:-900}
swap_s=${4:-900}
export OMP_NUM_THREADS=2
. "$(dirname "$0")/experiment_common.sh"
"$id2r" train codebook --stage 1 --config "$cfg/cpu64_codebook.yaml" --dataset "$data" --out s1 --threads 2 --no-progress
budget "$s2" "$id2r" train codebook --stage 2 --config "$cfg/cpu64_codebook.yaml" --dataset "$data" --init s1 --out s2 --threads 2 --no-progress
export OMP_NUM_THREADS=1
budget "$swap_s" "$id2r" train swapper --config "$cfg/cpu64_swapper.yaml" --dataset "$data" --base s2 --out swap_l16_32 --threads 1 --no-progress &
budget "$swap_s" "$id2r" train swapper --config "$cfg/cpu64_swapper_l64.yaml" --dataset "$data" --base s2 --out swap_l16_32_64 --threads 1 --no-progress &
wait
"$id2r" eval swapper --dataset "$data" --checkpoint l16_32=swap_l16_32 --checkpoint l16_32_64=swap_l16_32_64 \
    -o eval --threads 2 --no-progress | tee eval.txt

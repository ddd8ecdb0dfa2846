#!/usr/bin/env bash
# Codebook ablation on a CPU at the tiny 32 px size, in the regime of the paper,
# where the codebook is the bottleneck: K = 16 entries per codebook (the joint codebook
# then holds 16 codes for RGB and all four reflectance domains, the multi-domain model 16
# per domain). Stage 1 once, then stage 2 multi-domain and joint for the same number of
# steps with SEEDS (default "0 1"), then `id2r eval codebook` on the held-out subjects.
# About 12 minutes per seed pair and 5 for stage 1 on 2 cores.
#
#   bash scripts/cpu_codebook_capacity.sh DATASET OUT [SEEDS]
set -euo pipefail
data=$(cd "$1" && pwd)
out=$2
seeds=${3:-0 1}
export OMP_NUM_THREADS=1
. "$(dirname "$0")/experiment_common.sh"
[ -d s1_k16 ] || "$id2r" train codebook --stage 1 --config "$cfg/cpu32_codebook_k16.yaml" --dataset "$data" --out s1_k16 --threads 2 --no-progress
runs=(s1_k16)
for seed in $seeds; do
    "$id2r" train codebook --stage 2 --config "$cfg/cpu32_codebook_k16.yaml" --dataset "$data" --init s1_k16 \
        --out "s2_k16_seed$seed" --seed "$seed" --threads 1 --no-progress &
    "$id2r" train codebook --stage 2 --config "$cfg/cpu32_codebook_joint_k16.yaml" --dataset "$data" --init s1_k16 \
        --out "s2_joint_k16_seed$seed" --seed "$seed" --threads 1 --no-progress &
    wait
    runs+=("s2_joint_k16_seed$seed" "s2_k16_seed$seed")
done
"$id2r" eval codebook "${runs[@]}" --dataset "$data" --threads 2 --json capacity_ablation.json | tee capacity_ablation.txt

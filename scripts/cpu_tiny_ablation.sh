#!/usr/bin/env bash
# Reduced-size experiments on a CPU (issues 6 and 7): the tiny network (32 px) trained on a
# built dataset, then the codebook ablation (joint vs multi-domain) and the swapper
# evaluation with its ablations (closest vs fixed template, injection levels 16 vs 16+32,
# 9 / 18 / all training subjects). Each stage 2 and each swapper trains for a wall-time
# budget and stops gracefully (SIGINT saves a checkpoint). About 45 minutes on 2 cores with
# the default budgets; S2_S sets each stage 2's budget in seconds (default 420).
#
#   bash scripts/cpu_tiny_ablation.sh DATASET OUT [S2_S]
set -euo pipefail
data=$(cd "$1" && pwd)
out=$2
s2=${3:-420}
export OMP_NUM_THREADS=1
. "$(dirname "$0")/experiment_common.sh"
"$id2r" train codebook --stage 1 --config "$cfg/cpu32_codebook.yaml" --dataset "$data" --out s1 --threads 1 --no-progress
budget "$s2" "$id2r" train codebook --stage 2 --config "$cfg/cpu32_codebook.yaml" --dataset "$data" --init s1 --out s2 --threads 1 --no-progress &
budget "$s2" "$id2r" train codebook --stage 2 --config "$cfg/cpu32_codebook_joint.yaml" --dataset "$data" --init s1 --out s2_joint --threads 1 --no-progress &
wait
budget 300 "$id2r" train swapper --config "$cfg/cpu32_swapper.yaml" --dataset "$data" --base s2 --out swap --threads 1 --no-progress &
budget 240 "$id2r" train swapper --config "$cfg/cpu32_swapper_l16.yaml" --dataset "$data" --base s2 --out swap_l16 --threads 1 --no-progress &
wait
budget 240 "$id2r" train swapper --config "$cfg/cpu32_swapper.yaml" --dataset "$data" --base s2 --out swap_n9 --max-subjects 9 --threads 1 --no-progress &
budget 240 "$id2r" train swapper --config "$cfg/cpu32_swapper.yaml" --dataset "$data" --base s2 --out swap_n18 --max-subjects 18 --threads 1 --no-progress &
wait
"$id2r" eval codebook s1 s2_joint s2 --dataset "$data" --threads 2 --json codebook_ablation.json | tee codebook_ablation.txt
"$id2r" eval swapper --dataset "$data" --checkpoint n36_l16_32=swap --checkpoint l16=swap_l16 \
    --checkpoint n9=swap_n9 --checkpoint n18=swap_n18 -o eval --threads 2 --no-progress | tee eval.txt

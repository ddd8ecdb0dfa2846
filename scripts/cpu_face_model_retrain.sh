#!/usr/bin/env bash
# Issue 22 item 6: the reduced CPU models retrained on face-model subjects (ICT face model with a
# per-subject appearance; the dataset itself in the default procedural template layout), then the
# swapper evaluation and the real-photo benchmark. Simulates N subjects (default 24) at 256 px,
# UV 256, builds the dataset as the 48-subject procedural one was built (128 px views, 256-texel
# bake, full-on + courtyard, split by skin type), trains cpu32 codebook stage 1 and 2 and one
# swapper for wall-time budgets (SIGINT saves a checkpoint), evaluates (decode, template-residual,
# template-tone, retrieval only; closest vs fixed template; FAIR) and runs the London photos.
#
#   bash scripts/cpu_face_model_retrain.sh OUT [N] [S1_S] [S2_S] [SWAP_S] [STRIDE]
#
# The 2026-12-06 run (docs/results.md) did the same by hand on a loaded machine: 22 subjects
# (S0000-S0012, S0024-S0032), stage 1 on the training subjects built so far, shorter budgets.
set -euo pipefail
out=$1
n=${2:-24}
s1=${3:-900}
s2=${4:-900}
sw=${5:-600}
stride=${6:-4}
export OMP_NUM_THREADS=1
here=$(cd "$(dirname "$0")/.." && pwd)
export ID2R_FACE_MODEL=${ID2R_FACE_MODEL:-$here/../shared/face-models/ict-facekit-light}
. "$(dirname "$0")/experiment_common.sh"
python=$(dirname "$id2r")/python
"$id2r" simulate -o sessions -n "$n" --image-size 256 --uv-size 256 --no-progress
"$id2r" dataset build sessions -o ds --workers 2 --image-size 128 --uv-size 256 --env full,courtyard --no-progress
budget "$s1" "$id2r" train codebook --stage 1 --config "$cfg/cpu32_codebook.yaml" --dataset ds --out s1 --threads 1 --no-progress
budget "$s2" "$id2r" train codebook --stage 2 --config "$cfg/cpu32_codebook.yaml" --dataset ds --init s1 --out s2 --threads 1 --no-progress
budget "$sw" "$id2r" train swapper --config "$cfg/cpu32_swapper.yaml" --dataset ds --base s2 --out swap --threads 1 --no-progress
"$id2r" eval swapper --dataset ds --checkpoint swap -o eval --variants template-residual,template-tone --threads 1 \
    --no-progress | tee eval.txt
for p in decode template-tone template-residual; do
    PYTHONPATH=$here/src "$python" "$here/benchmarks/bench_infer_real.py" --model swap --dataset ds --prediction "$p" \
        --stride "$stride" --variant-people 8 --json "real_$p.json" | tee "real_$p.txt"
done

#!/usr/bin/env bash
# The GPU leg of bench/scale.py (issue 12): a Llama-3-8B-shaped random bf16 checkpoint through
# prune, recover and quantize (FP8, and GPTQ W4A16 through llm-compressor's sequential
# onloading) on one CUDA GPU. Each stage is its own bench/scale.py call under a time limit, so
# one slow stage cannot take the others' time; results go to bench/results/gpu/scale.{json,md,
# png} (or $1).
#
#   bash bench/gpu.sh [RESULTS_DIR]
#     MODELS="llama3-8b"   STAGE_TIMEOUT=300 (seconds per stage)   WORKDIR=/tmp/slimline-gpu
#     PARALLEL=1: GPTQ runs beside the prune → recover → FP8 chain (a short lease: both fit
#     on one large GPU; their wall times then share the host's cores and disk).
#
# Needs torch with CUDA and the project's dependencies importable (installed, or on PYTHONPATH
# with src/). Disk: the 8 B base (16 GB), its pruned copy and one output per chain at a time.
set -u
results=${1:-bench/results/gpu}
work=${WORKDIR:-/tmp/slimline-gpu}
python=${PYTHON:-python3}
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers",
transformers.__version__, "cuda", torch.cuda.is_available())'

stage() {  # model stage
  echo "== $1 $2 start $(date +%T)"
  timeout -k 10 "${STAGE_TIMEOUT:-300}" "$python" bench/scale.py --models "$1" --stages "$2" \
    --workdir "$work" --results "$results" --note "${NOTE:-GPU leg (bench/gpu.sh).}" \
    || echo "== $1 $2: exit $?"
  echo "== $1 $2 end $(date +%T)"
}

for model in ${MODELS:-llama3-8b}; do
  echo "== $model build start $(date +%T)"
  "$python" bench/scale.py --models "$model" --build-only --workdir "$work" || exit 1
  echo "== $model build end $(date +%T)"
  if [ "${PARALLEL:-0}" = 1 ]; then
    stage "$model" quantize &
    for s in prune recover quantize_fp8; do stage "$model" "$s"; done
    wait
  else
    for s in prune recover quantize_fp8 quantize; do stage "$model" "$s"; done
  fi
done
df -h "$work" | tail -1

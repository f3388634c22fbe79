#!/usr/bin/env bash
# One GPU lease (a 10-minute call): pretrain for most of it in bf16, snapshots and logs to $OUT.
#
# Prepared on the CPU machine (see training/gpu/README.md):
#   python -m training.corpus --shard .gpu/shard --budget-mb 19.3     # weighted corpus sample to carry
#   cp -r training sdk .gpu/src/                                      # the code that runs there
# Run there from the repository root (carry .gpu):  bash .gpu/src/training/gpu/pretrain_h200.sh
# Environment: OUT (results folder, required), BUDGET_S (seconds from start to the hard stop, default 530),
# TRAIN_MIN (learning-rate schedule length in minutes, default 7.6), EXTRA (more pretrain flags).
set -u
T0=$(date +%s)
: "${OUT:?set OUT to the results folder}"
BUDGET_S=${BUDGET_S:-530}
TRAIN_MIN=${TRAIN_MIN:-7.6}
ROOT=$(pwd)
SRC=$ROOT/.gpu/src
[ -d "$SRC/training" ] || SRC=$ROOT
SHARD=${SHARD:-$ROOT/.gpu/shard}
LOG=$OUT/train.log
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
mkdir -p "$OUT"
{
  date -u; nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv 2>&1
  python3 -c "import torch, transformers, safetensors; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
  du -sh "$SHARD"
} 2>&1 | tee -a "$LOG"

run() {  # run <extra flags...>: one pretraining attempt, stopping by the shared deadline
  cd "$SRC" && python3 -m training.pretrain --out /tmp/pretrain-run --corpus-dir "$SHARD" \
    --snapshot-dir "$OUT/model" --layers 6 --hidden 256 --heads 4 --intermediate 1024 --max-len 128 \
    --batch-size 512 --lr 1e-3 --warmup-steps 400 --min-lr-ratio 0.05 --max-minutes "$TRAIN_MIN" \
    --deadline $((T0 + BUDGET_S)) --eval-every-minutes 1 --save-every-minutes 1.5 --eval-windows 64 \
    --name csqa-bert-dialog ${EXTRA:-} "$@" 2>&1 | tee -a "$LOG"
  return "${PIPESTATUS[0]}"
}

run
rc=$?
if [ "$rc" -ne 0 ] && [ ! -f "$OUT/model/summary.json" ] && [ $(( $(date +%s) - T0 )) -lt $((BUDGET_S - 120)) ]; then
  echo "fast path failed (rc $rc); retrying with --safe (fp32, eager attention) for the time left" | tee -a "$LOG"
  run --safe --batch-size 256
  rc=$?
fi
cp /tmp/pretrain-run/summary.json "$OUT/summary.json" 2>/dev/null
echo "exit $rc after $(( $(date +%s) - T0 ))s" | tee -a "$LOG"
exit "$rc"

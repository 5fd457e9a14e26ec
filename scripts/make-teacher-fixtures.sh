#!/usr/bin/env bash
# Regenerates fixtures/torch/teacher/ (issue 13, smoothing toward a teacher) with scripts/teacher_ref.py; run by
# scripts/make-fixtures.sh, or alone (it reads the committed fixtures/torch/{data.jsonl,gpt2,llama}, rewrites only teacher/):
#   the loss on random logits (loss.json); a teacher's top-k for data.jsonl in `ual distill`'s format (the gpt2
#   checkpoint as teacher, k 4); 8 AdamW steps of the llama checkpoint (untied head: the head trains) toward it.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${REF:-../shared/reference/torch_ref.py}
PY=${PY:-/usr/bin/python3}
OUT=${OUT:-fixtures/torch}
T=$OUT/teacher
export UAL_TORCH_REF_DIR="$(dirname "$REF")"
TREF="$PY scripts/teacher_ref.py"
rm -rf "$T" && mkdir -p $T/runs/llama-teacher
$TREF loss --out $T/loss.json --seed 0
$TREF distill --teacher $OUT/gpt2 --data $OUT/data.jsonl --k 4 --out $T/data.jsonl
flags="--clip 1.0 --weight-decay 0.1"
# shellcheck disable=SC2086
$TREF train --model $OUT/llama --data $T/data.jsonl --steps 8 --batch-size 4 --lr 1e-3 $flags \
  --save $T/runs/llama-teacher/trained > $T/runs/llama-teacher/losses.jsonl
echo "$flags" > $T/runs/llama-teacher/flags.txt

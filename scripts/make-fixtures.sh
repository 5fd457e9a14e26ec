#!/usr/bin/env bash
# Regenerates fixtures/torch/ with the PyTorch reference (needs Debian's python3-torch; CI does not run this).
#   apt-get install -y python3-torch && bash scripts/make-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${REF:-../shared/reference/torch_ref.py}
PY=/usr/bin/python3
OUT=fixtures/torch
rm -rf "$OUT" && mkdir -p "$OUT"
IDS=3,17,42,99,5,64

# three small random checkpoints covering the architectures' switches
$PY "$REF" init --arch gpt2  --layers 2 --d 64 --heads 4 --vocab 128 --ctx 64 --seed 1 --out $OUT/gpt2
$PY "$REF" init --arch llama --layers 2 --d 64 --heads 4 --kv-heads 2 --vocab 128 --ctx 64 --seed 2 --out $OUT/llama
$PY "$REF" init --arch llama --layers 2 --d 64 --heads 4 --kv-heads 2 --vocab 128 --ctx 64 --bias-qkv --tie --seed 3 --out $OUT/qwen2
$PY "$REF" data --out $OUT/data.jsonl --vocab 128 --n 16 --min-len 8 --max-len 40 --seed 0

# name | model | loss flags  (each 10 AdamW steps, batch 4, file order)
runs=(
  "gpt2-ual-paper-clip|gpt2|--loss ual --eps-style paper --clip 1.0 --weight-decay 0.1"
  "gpt2-sft|gpt2|--loss sft"
  "llama-ual-hf|llama|--loss ual --eps-style hf --clip 0.5"
  "llama-ls-paper|llama|--loss ls --epsilon 0.2 --eps-style paper --weight-decay 0.01"
  "qwen2-ual-paper-clip|qwen2|--loss ual --eps-style paper --clip 1.0 --weight-decay 0.1"
  "qwen2-ls-hf|qwen2|--loss ls --epsilon 0.1 --eps-style hf"
)
for r in "${runs[@]}"; do
  IFS='|' read -r name model flags <<<"$r"
  mkdir -p $OUT/runs/$name
  # shellcheck disable=SC2086
  $PY "$REF" train --model $OUT/$model --data $OUT/data.jsonl --steps 10 --batch-size 4 --lr 1e-3 $flags \
    --save $OUT/runs/$name/trained > $OUT/runs/$name/losses.jsonl
  echo "$flags" > $OUT/runs/$name/flags.txt
  $PY "$REF" greedy --model $OUT/runs/$name/trained --ids $IDS --new 20 > $OUT/runs/$name/greedy.json
done

# LoRA: a random adapter (B non-zero so A gets gradients from step 1), then 10 steps training only the adapter
LORA="$PY scripts/lora_ref.py"
export UAL_TORCH_REF_DIR="$(dirname "$REF")"
lora_runs=(
  "llama-lora-qv|llama|q_proj,v_proj|--loss ual --eps-style paper --clip 1.0 --weight-decay 0.1"
  "gpt2-lora-attn|gpt2|c_attn,c_proj|--loss ls --epsilon 0.1 --eps-style hf"
)
for r in "${lora_runs[@]}"; do
  IFS='|' read -r name model targets flags <<<"$r"
  mkdir -p $OUT/lora/$name
  $LORA init --model $OUT/$model --targets $targets --r 4 --alpha 8 --seed 5 --out $OUT/lora/$name/init
  # shellcheck disable=SC2086
  $LORA train --model $OUT/$model --adapter $OUT/lora/$name/init --data $OUT/data.jsonl --steps 10 --batch-size 4 \
    --lr 1e-3 $flags --save $OUT/lora/$name/trained > $OUT/lora/$name/losses.jsonl
  echo "$flags" > $OUT/lora/$name/flags.txt
done

for m in gpt2 llama qwen2; do
  $PY "$REF" logits --model $OUT/$m --ids $IDS > $OUT/$m/logits.json
  $PY "$REF" greedy --model $OUT/$m --ids $IDS --new 20 > $OUT/$m/greedy.json
done
echo "$IDS" > $OUT/prompt_ids.txt
echo "fixtures written to $OUT by: bash scripts/make-fixtures.sh ($(/usr/bin/python3 -c 'import torch; print("torch", torch.__version__)'))" > $OUT/README.txt

# Teacher smoothing (issue 13): its own script, runnable alone (it only rewrites $OUT/teacher)
OUT=$OUT PY=$PY REF=$REF bash scripts/make-teacher-fixtures.sh

# Length-controlled win rate (issue 14): its own script, runnable alone (it only rewrites fixtures/lc)
PY=$PY bash scripts/make-lc-fixtures.sh

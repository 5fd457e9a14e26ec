#!/usr/bin/env bash
# Regenerates fixtures/lc/ (issue 14, the length-controlled win rate of `ual eval judge`) with scripts/lc_ref.py: a
# seeded set of judged pairs and the PyTorch fit of the LC model on them. Run by scripts/make-fixtures.sh, or alone:
#   bash scripts/make-lc-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
rm -rf fixtures/lc && $PY scripts/lc_ref.py --out fixtures/lc --seed 14 --n 300

"""The PyTorch training worker of `ual train --engine torch`.

TypeScript prepares everything (rows, per-row epsilon, the seeded step -> rows order, the lr of every step) into
<out>/engine/plan.json plus memory-mappable arrays, launches `python -m ual_worker.launch ... -m ual_worker plan.json`
and turns the JSON lines this worker prints into metrics; the worker only trains, with the loss semantics of the
native engine (src/train), and writes the same run directory. It depends on torch (>= 1.13) and the standard
library only. This file imports neither, so `-m ual_worker.launch` starts before torch is loaded.
"""

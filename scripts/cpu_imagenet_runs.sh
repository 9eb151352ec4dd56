#!/usr/bin/env bash
# Issue 5: the paper's ImageNet protocol at the full DE budget (population 400, 100 generations, one untargeted
# attack per photo) on the real int8 MobileNetV2 and the 100 sample photos, model-input space first, then file
# space; one TFLite process per core (faster here than one process with a thread per core, docs/imagenet.md).
# Resumable: re-run to continue. Before committing a store, stop the run and checkpoint its WAL:
#   sqlite3 docs/runs/imagenet-v2-input-de/results.sqlite "PRAGMA wal_checkpoint(TRUNCATE)"
set -euo pipefail
# Count the cores before the export: GNU nproc honours OMP_NUM_THREADS and would answer 1.
workers="${WORKERS:-$(nproc)}"
export OMP_NUM_THREADS=1
for space in ${SPACES:-input file}; do
  onepixel evaluate -m "${MODEL:-../shared/models/imagenet/mobilenet_v2_1.0_224_quant.tflite}" \
    --dataset imagenet-sample --data "${PHOTOS:-../shared/data/imagenet-sample}" --n 100 --search de --paper \
    --space "$space" --batch-images 1 --workers "$workers" --out "docs/runs/imagenet-v2-$space-de"
done

#!/usr/bin/env bash
# Device session 3: the paper protocol (1 px, 100 CIFAR-10 test images) on the zoo nets, on the GPU.
# Each run has a time cap; the results store is crash-safe, so a capped run resumes later with the same command.
set -u
cp .dev/gpu3/vgg16.safetensors src/onepixel/zoo/weights/
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 ONEPIXEL_DATA=$PWD/.dev/gpu3
run() {  # model seconds
  timeout "$2" python3 -m onepixel.cli evaluate -m "$1" --n 100 -k 1 --protocol paper --device cuda \
    --batch-images 270 --out /tmp/runs/paper-$1 2>&1 | tr '\r' '\n' | tail -n 3
  python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"/tmp/runs/paper-{sys.argv[1]}/results.sqlite"); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(sys.argv[1], db.execute("select count(*), sum(success) from attacks").fetchone()); db.close()
PY
  cp /tmp/runs/paper-$1/results.sqlite $OUT/paper-$1.sqlite
}
run allconv 110
run nin 45
run vgg16 35
ls -la $OUT

#!/usr/bin/env bash
# The paper protocol (1 pixel, 100 CIFAR-10 test images) on VGG16 (and 3/5 px on AllConv) on one GPU,
# resuming the stores kept in docs/runs/. Prepared for a session that is lent the device (issue 4):
#   mkdir -p .dev/gpu && cp ../shared/data/cifar10/test.npz .dev/gpu/     # 28 MB, carried (ignored path)
#   run(command="bash scripts/device_paper_runs.sh 300 200", carry=[".dev/gpu"], timeout_s=590)
# Arguments: seconds for VGG16 and AllConv 3/5 px (NiN and AllConv 1 px are complete in docs/runs/). Each run is
# capped; the results store is crash-safe, so a capped run resumes with the same command. Stores come back in $OUT; copy them into docs/runs/.
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 ONEPIXEL_DATA=$PWD/.dev/gpu
nvidia-smi --query-gpu=name --format=csv,noheader
run() {  # name seconds evaluate-args...
  local name=$1 secs=$2; shift 2
  mkdir -p /tmp/runs/$name
  [ -f docs/runs/$name/results.sqlite ] && cp docs/runs/$name/results.sqlite /tmp/runs/$name/
  timeout "$secs" python3 -m onepixel.cli evaluate "$@" --device cuda --batch-images 270 --out /tmp/runs/$name \
    2>&1 | tr '\r' '\n' | tail -n 2
  python3 - "$name" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"/tmp/runs/{sys.argv[1]}/results.sqlite"); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(sys.argv[1], "attacks, successes:", db.execute("select count(*), sum(success) from attacks").fetchone()); db.close()
PY
  mkdir -p $OUT/$name && cp /tmp/runs/$name/results.sqlite $OUT/$name/
}
run paper-vgg16 "${1:-300}" -m vgg16 --n 100 -k 1 --protocol paper
run paper-allconv-3-5px "${2:-200}" -m allconv --n 100 -k 3 -k 5 --protocol paper
ls -laR $OUT

#!/usr/bin/env bash
# The paper's ImageNet protocol (DE 400 x 100 generations, 1 pixel, non-targeted, early stop when the true class
# < 5 %) on the 100 sample photos against the int8 MobileNetV2, in both attack spaces (issue 5), on a device
# machine's 16 CPU cores: TFLite runs one photo per invoke on the CPU, so the GPU idles and one worker per core
# does the work (~16x this 2-core host). Resumes the stores kept in docs/runs/. Prepare here (ignored paths, ~37 MB):
#   mkdir -p .dev/whl .dev/imagenet && cp -r ../shared/data/imagenet-sample .dev/imagenet/photos \
#     && cp ../shared/models/imagenet/mobilenet_v2_1.0_224_quant.tflite .dev/imagenet/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_27_x86_64 -d .dev/whl ai-edge-litert==2.3.0 backports.strenum
#   run(command="bash scripts/device_imagenet_runs.sh 420 120", carry=[".dev/whl", ".dev/imagenet"], timeout_s=590)
# Arguments: seconds for the input space and the file space. A capped run resumes with the same command; the stores
# come back in $OUT/<name>/results.sqlite: copy them into docs/runs/<name>/ and run `onepixel report` on them.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .dev/whl/*.whl \
  && export PYTHONPATH=$PWD/src:/tmp/site || exit
workers=$(nproc)  # before the export: GNU nproc honours OMP_NUM_THREADS and would answer 1
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
echo "workers: $workers"
run() {  # name seconds evaluate-args...
  local name=$1 secs=$2; shift 2
  mkdir -p /tmp/runs/$name
  [ -f docs/runs/$name/results.sqlite ] && cp docs/runs/$name/results.sqlite /tmp/runs/$name/
  timeout "$secs" python3 -m onepixel.cli evaluate -m .dev/imagenet/mobilenet_v2_1.0_224_quant.tflite \
    --dataset imagenet-sample --data .dev/imagenet/photos --n 100 --search de --workers "$workers" "$@" \
    --out /tmp/runs/$name 2>&1 | tr '\r' '\n' | grep -v '^evaluate' | tail -n 20
  python3 - "$name" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"/tmp/runs/{sys.argv[1]}/results.sqlite", timeout=60)
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(sys.argv[1], "attacks, successes, queries:", db.execute("select count(*), sum(success), sum(queries) from attacks").fetchone())
db.close()
PY
  mkdir -p $OUT/$name && cp /tmp/runs/$name/results.sqlite $OUT/$name/
}
run imagenet-v2-input-de "${1:-420}" --space input
run imagenet-v2-file-de "${2:-120}" --space file

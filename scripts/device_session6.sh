#!/usr/bin/env bash
# Device session 6: everything left that a lent GPU host speeds up, side by side until one deadline.
#   GPU 1: the paper protocol on VGG16 (issue 4), then AllConv at 3/5 px;
#   GPU 2: issue 7's search rows (VGG16 at 1 px; AllConv/NiN/VGG16 at 3/5 px);
#   CPU:   the paper-budget DE on the 100 ImageNet photos against the int8 MobileNetV2, input space (issue 5),
#          one TFLite worker per free core.
# Prepared here (ignored paths): .dev/dev4/site.tar.xz (ai-edge-litert 2.3.0 cp312 without its WebGPU, vendor and
# tool binaries, plus cma 4.5.0), .dev/dev4/cifar/test.npz (the CIFAR-10 test set with only images 0-999 and the
# paper sample of seed 0 kept, the rest zeroed: all these runs read), .dev/imagenet (photos + model).
#   run(command="bash scripts/device_session6.sh 520", carry=[".dev/dev4", ".dev/imagenet"], timeout_s=600)
# Every store is crash-safe and resumes; what a run finished comes back in $OUT (flat: at most 8 files).
set -u
T=${1:-520}
DEADLINE=$((SECONDS + T))
left() { echo $((DEADLINE - SECONDS)); }  # (a step that finds under 10 s left does not start: timeout 0 never ends)
capped() { local s=$1; shift; [ "$s" -ge 10 ] && timeout "$s" "$@"; }
DEV=${DEV:-cuda}  # DEV=cpu LOCAL=1 OUT=/tmp/out6: a smoke test of this script on the 2-core host
[ -n "${LOCAL:-}" ] || { mkdir -p /tmp/site && tar xJf .dev/dev4/site.tar.xz -C /tmp/site; } || exit 3
export PYTHONPATH=$PWD/src:/tmp/site PYTHONUNBUFFERED=1 ONEPIXEL_DATA=$PWD/.dev/dev4/cifar
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
python3 -c "import cma, ai_edge_litert.interpreter, torch; print('imports ok, torch', torch.__version__)" || exit 4
mkdir -p /tmp/logs /tmp/runs /tmp/bc && cp -r docs/measurements/search-cells/. /tmp/bc/

paper() {  # name evaluate-args...
  local name=$1; shift
  mkdir -p /tmp/runs/$name
  [ -f docs/runs/$name/results.sqlite ] && cp docs/runs/$name/results.sqlite /tmp/runs/$name/
  OMP_NUM_THREADS=2 capped "$(left)" python3 -m onepixel.cli evaluate "$@" --out /tmp/runs/$name \
    > /tmp/logs/$name.log 2>&1
}

( paper paper-vgg16 -m vgg16 --n 100 -k 1 --protocol paper --device $DEV --batch-images 270
  paper paper-allconv-3-5px -m allconv --n 100 -k 3 -k 5 --protocol paper --device $DEV --batch-images 270 ) &

( bench() { capped "$1" python3 benchmarks/search.py --device $DEV --batch-images 200 --cache /tmp/bc \
      --out /tmp/bo --threads 3 "${@:2}" >> /tmp/logs/search.log 2>&1; }
  bench $(( $(left) * 5 / 10 )) --models vgg16 --n 200 --n-de 100 --pixels 1
  bench "$(left)" --models vgg16 allconv nin --n 200 --n-live 100 --n-de 50 --pixels 3 5 ) &

( paper imagenet-v2-input-de -m .dev/imagenet/mobilenet_v2_1.0_224_quant.tflite --dataset imagenet-sample \
    --data .dev/imagenet/photos --n 100 --search de --space input --batch-images 1 --workers 11 ) &

while [ "$(jobs -r | wc -l)" -gt 0 ]; do sleep 30; echo "t=$SECONDS: $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done
wait
for d in /tmp/runs/*/; do
  n=$(basename "$d")
  python3 - "$d" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1] + "results.sqlite", timeout=60); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(sys.argv[1], "attacks, successes, queries:", db.execute("select count(*), sum(success), sum(queries) from attacks").fetchone())
db.close()
PY
  cp "$d/results.sqlite" "$OUT/$n.sqlite"
done
(cd /tmp/bc && tar czf $OUT/cells.tar.gz $(find . -name 'k*.json'))  # JSON only (the whole cache, with its corner tables, was 104 MB: too big to come back)
for f in /tmp/logs/*.log; do echo "== $f"; tr '\r' '\n' < "$f" | grep -v '^\s*$' | tail -n 6; done
tar czf $OUT/logs.tar.gz -C /tmp/logs .
ls -la $OUT

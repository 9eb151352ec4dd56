#!/usr/bin/env bash
# What is left for a lent GPU host after session 6, side by side until one deadline:
#   GPU 1: the paper protocol on AllConv at 5 px (resumes docs/runs/paper-allconv-3-5px; issue 4's optional rows);
#   GPU 2: issue 7's rows still missing (VGG16 1 px targeted and CMA-ES; 3/5 px on VGG16, AllConv, NiN, both modes);
#   CPU:   if .dev/imagenet is carried, the paper-budget DE on the ImageNet photos in file space (issue 5).
# Prepare here as for scripts/device_session6.sh (.dev/dev4: site.tar.xz + cifar/test.npz, ~10 MB; .dev/imagenet,
# 14 MB, only if the working tree leaves room under the 64 MiB limit):
#   run(command="bash scripts/device_remaining.sh 530", carry=[".dev/dev4"], timeout_s=595)
# Stores come back flat in $OUT (copy into docs/runs/<name>/results.sqlite); search cells as cells.tar.gz of
# JSON only (extract into docs/measurements/search-cells/, then rebuild docs/search.md with --report-only).
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
rm -f /tmp/bc/vgg16-*/k1-*-rs-*.json  # computed before rs's refinement (session 6): measure them again

paper() {  # name evaluate-args...
  local name=$1; shift
  mkdir -p /tmp/runs/$name
  [ -f docs/runs/$name/results.sqlite ] && cp docs/runs/$name/results.sqlite /tmp/runs/$name/
  OMP_NUM_THREADS=2 capped "$(left)" python3 -m onepixel.cli evaluate "$@" --out /tmp/runs/$name \
    > /tmp/logs/$name.log 2>&1
}

( paper paper-allconv-3-5px -m allconv --n 100 -k 3 -k 5 --protocol paper --device $DEV --batch-images 270 ) &

( bench() { capped "$1" python3 benchmarks/search.py --device $DEV --batch-images 200 --cache /tmp/bc \
      --out /tmp/bo --threads 3 "${@:2}" >> /tmp/logs/search.log 2>&1; }
  bench $(( $(left) * 4 / 10 )) --models vgg16 --n 200 --n-live 100 --n-de 100 --pixels 1
  bench "$(left)" --models vgg16 allconv nin --n 200 --n-live 100 --n-de 50 --pixels 3 5 ) &

if [ -d .dev/imagenet ]; then
  ( paper imagenet-v2-file-de -m .dev/imagenet/mobilenet_v2_1.0_224_quant.tflite --dataset imagenet-sample \
      --data .dev/imagenet/photos --n 100 --search de --space file --batch-images 1 --workers 11 ) &
fi

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
(cd /tmp/bc && tar czf $OUT/cells.tar.gz $(find . -name 'k*.json'))  # JSON only: the corner tables are 100+ MB
for f in /tmp/logs/*.log; do echo "== $f"; tr '\r' '\n' < "$f" | grep -v '^\s*$' | tail -n 6; done
tar czf $OUT/logs.tar.gz -C /tmp/logs .
ls -la $OUT

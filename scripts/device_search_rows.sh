#!/usr/bin/env bash
# Issue 7's missing rows (AllConv, NiN, VGG16 at 200 strict-protocol images; 3/5 px live cells) on one GPU.
# Cells already computed travel as JSON only (the one-pixel tables are rebuilt on the GPU in seconds). Prepare here:
#   mkdir -p .dev/cells && (cd runs/bench-search && find . -maxdepth 2 -name 'k*.json*' -exec cp --parents {} ../../.dev/cells/ \;)
#   mkdir -p .dev/gpu && cp ../shared/data/cifar10/test.npz .dev/gpu/
#   run(command="bash scripts/device_search_rows.sh 200 120 200", carry=[".dev/cells", ".dev/gpu"], timeout_s=590)
# Arguments: seconds for NiN + VGG16 at 1 px, AllConv at 1 px, all three at 3/5 px. A capped cell keeps its last
# checkpoint (every 100 images, a .partial file that a later GPU run resumes); the finished ones come back in $OUT/cells/<model>-<sha>/: copy them into runs/bench-search/ and regenerate the
# tables with `python benchmarks/search.py --report-only --models resnet20 allconv nin vgg16 --out docs`.
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 ONEPIXEL_DATA=$PWD/.dev/gpu
nvidia-smi --query-gpu=name --format=csv,noheader
mkdir -p /tmp/bc && cp -r .dev/cells/. /tmp/bc/
run() {  # seconds benchmark-args...
  local secs=$1; shift
  timeout "$secs" python3 benchmarks/search.py --device cuda --batch-images 100 --cache /tmp/bc --out /tmp/bo \
    --threads 8 "$@" 2>&1 | grep -v "table " | tail -n 30
}
run "${1:-200}" --models nin vgg16 --n 200 --pixels 1
run "${2:-120}" --models allconv --n 200 --pixels 1
run "${3:-200}" --models nin vgg16 allconv --n 200 --n-live 100 --n-de 100 --pixels 3 5
mkdir -p $OUT/cells && (cd /tmp/bc && find . -maxdepth 2 -name 'k*.json*' -exec cp --parents {} $OUT/cells/ \;)
ls -R $OUT | head -80

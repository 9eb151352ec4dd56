#!/usr/bin/env bash
# Device session 18 on a lent H200, side by side until one deadline:
#   1. the TF32 check: zoo reference logits on the GPU with torch's default (cuDNN fp32 convolutions in TF32) and
#      with onepixel's IEEE fp32 (models/pytorch.py ieee_fp32), against the CPU's fp32, on CIFAR-10 test 0-999;
#   2. issue 7's paper-DE cells still below 200 images (VGG16 3/5 px untargeted, 1/3/5 px targeted; AllConv and
#      NiN 3/5 px targeted), four processes on the GPU;
#   3. a fair search-precision test: the same DE cells (AllConv 3 px, ResNet-20 1 px, NiN 3 px, untargeted)
#      searched in bf16 and in fp32 on the GPU, every success verified in fp32 (separate cache and cell names).
# Prepare here (ignored): .dev/gpu/test.npz, the CIFAR-10 test set with images 1000-9999 zeroed (3 MB; every
# strict set here lies in 0-999):
#   run(command="bash scripts/device_session18.sh 480", carry=[".dev/gpu"], timeout_s=590)
# Comes back in $OUT: cells.tar.gz (JSON cells and checkpoints: extract, copy the 200-image de cells into
# docs/measurements/search-cells/), tf32.json, logs.tar.gz. Smoke test here: DEV=cpu N=1 OUT=/tmp/o18 bash ... 60
set -u
T=${1:-480}
N=${N:-200}
DEV=${DEV:-cuda}
DEADLINE=$((SECONDS + T))
left() { echo $((DEADLINE - SECONDS)); }  # (a step that finds under 10 s left does not start: timeout 0 never ends)
capped() { local s=$1; shift; [ "$s" -ge 10 ] && timeout "$s" "$@"; }
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 ONEPIXEL_DATA=$PWD/.dev/gpu
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
mkdir -p /tmp/logs /tmp/bc /tmp/bp

DEV=$DEV python3 - > "$OUT/tf32.json" 2> /tmp/logs/tf32.log <<'PY'
import contextlib, json, os, time
import numpy as np, torch
import onepixel.models.pytorch as pt
from onepixel import zoo
from onepixel.data import load_cifar10

dev = os.environ["DEV"]
x = load_cifar10("test")[0][:1000]
res = {"torch": torch.__version__, "default_conv_fp32_precision": getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)}
for name in ["resnet20", "allconv", "nin", "vgg16"]:
    t0 = time.time()
    cpu = zoo.load(name, device="cpu", precision="fp32").probs(x, reference=True)
    gpu = zoo.load(name, device=dev)
    ieee = gpu.probs(x, reference=True)
    real = pt.ieee_fp32
    pt.ieee_fp32 = lambda device: contextlib.nullcontext()  # torch's default: TF32 convolutions
    tf32 = gpu.probs(x, reference=True)
    pt.ieee_fp32 = real
    bf16 = gpu.probs(x, reference=False)
    row = {}
    for label, p in [("ieee_fp32", ieee), ("torch_default", tf32), ("bf16_search", bf16)]:
        row[label] = {"max_abs_prob_diff": float(np.abs(p - cpu).max()),
                      "median_abs_prob_diff": float(np.median(np.abs(p - cpu).max(1))),
                      "argmax_disagreements": int((p.argmax(1) != cpu.argmax(1)).sum())}
    res[name] = row | {"seconds": round(time.time() - t0, 1)}
print(json.dumps(res, indent=1))
PY
cat "$OUT/tf32.json"

bench() {  # log cache benchmark-args...
  local log=$1 cache=$2; shift 2
  capped "$(left)" python3 benchmarks/search.py --device "$DEV" --batch-images 200 --threads 3 --n "$N" --n-de "$N" \
    --searches de --cache "$cache" --out "/tmp/bo-$log" "$@" >> "/tmp/logs/$log.log" 2>&1
}
( bench vgg-u /tmp/bc --models vgg16 --pixels 3 5 --modes untargeted ) &
( bench vgg-t /tmp/bc --models vgg16 --pixels 1 5 --modes targeted --batch-images 100 ) &
( bench vgg-t3 /tmp/bc --models vgg16 --pixels 3 --modes targeted --batch-images 100 ) &
( bench an-t /tmp/bc --models allconv nin --pixels 3 5 --modes targeted ) &
( for p in bf16 fp32; do bench prec /tmp/bp --models allconv --pixels 3 --modes untargeted --precision $p; done
  for p in bf16 fp32; do bench prec /tmp/bp --models resnet20 --pixels 1 --modes untargeted --precision $p; done
  for p in bf16 fp32; do bench prec /tmp/bp --models nin --pixels 3 --modes untargeted --precision $p; done ) &

while [ "$(jobs -r | wc -l)" -gt 0 ]; do
  sleep 30; echo "t=$SECONDS: $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"
done
wait
(cd /tmp && tar czf "$OUT/cells.tar.gz" $(cd /tmp && find bc bp -name 'k*.json*'))  # JSON cells and checkpoints
for f in /tmp/logs/*.log; do echo "== $f"; tr '\r' '\n' < "$f" | grep -E '^[a-z0-9]+\||^  [0-9.]+% in|Error|error' | tail -n 12; done
tar czf "$OUT/logs.tar.gz" -C /tmp/logs .
ls -la "$OUT"

#!/usr/bin/env bash
# Device session 2: GPU attack throughput (issue 6), then a longer ResNet-20 run (issue 3). Results in $OUT.
set -u
mkdir -p /tmp/d && cp .dev/c/* /tmp/d/ 2>/dev/null
cat /tmp/d/cifar.part00 /tmp/d/cifar.part01 /tmp/d/cifar.part02 > /tmp/cifar.tar && tar xf /tmp/cifar.tar -C /tmp/d || exit 3
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader
timeout 150 python3 benchmarks/gpu_throughput.py --device cuda --data /tmp/d --images 1024 --generations 5 --batch-sizes 4096 16384 | tee $OUT/gpu_throughput.txt
mkdir -p /tmp/zoo
timeout $(( ${1:-270} + 90 )) python3 scripts/train_zoo_gpu.py /tmp/d /tmp/zoo "${1:-270}" resnet20
cp /tmp/zoo/resnet20/resnet20.safetensors /tmp/zoo/resnet20/log.json $OUT/ 2>/dev/null
tail -n 4 /tmp/zoo/resnet20.log
ls -la $OUT

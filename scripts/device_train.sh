#!/usr/bin/env bash
# Reassemble the carried CIFAR-10 parts and train the zoo on the GPU; results into $OUT.
set -u
mkdir -p /tmp/d && cp .dev/c/* /tmp/d/ 2>/dev/null
cat /tmp/d/cifar.part00 /tmp/d/cifar.part01 /tmp/d/cifar.part02 > /tmp/cifar.tar && tar xf /tmp/cifar.tar -C /tmp/d && ls -la /tmp/d
nvidia-smi --query-gpu=name,memory.used --format=csv
mkdir -p /tmp/zoo
PYTHONUNBUFFERED=1 timeout $(( ${1:-330} + 120 )) python3 scripts/train_zoo_gpu.py /tmp/d /tmp/zoo "${1:-330}"
for a in allconv nin resnet20; do cp /tmp/zoo/$a/$a.safetensors $OUT/ 2>/dev/null; done
[ -f /tmp/zoo/vgg16/vgg16.safetensors ] && split -b 15M -d /tmp/zoo/vgg16/vgg16.safetensors $OUT/vgg16.safetensors.part
tar czf $OUT/logs.tar.gz -C /tmp/zoo $(cd /tmp/zoo && ls -d */log.json *.log 2>/dev/null)
tail -n 3 /tmp/zoo/*.log
ls -la $OUT

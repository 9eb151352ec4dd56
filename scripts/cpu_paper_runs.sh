#!/usr/bin/env bash
# The paper protocol (100 random CIFAR-10 test images, 9 targeted attacks each, 1 pixel, the paper's DE budget)
# on NiN and VGG16, on this CPU, one process per core. Resumable: re-run to continue where it stopped. Small
# batches (BATCH images x 9 targets per worker) store results every ~15-30 min, so a stop loses little.
export ONEPIXEL_DATA=${ONEPIXEL_DATA:-../shared/data/cifar10}
for m in ${MODELS:-nin vgg16}; do
  onepixel evaluate -m "$m" --n "${N:-100}" -k 1 --protocol paper --batch-images "${BATCH:-4}" \
    --workers "${WORKERS:-$(nproc)}" --out "docs/runs/paper-$m"
done

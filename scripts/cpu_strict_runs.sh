#!/usr/bin/env bash
# Strict protocol (correctly classified CIFAR-10 test images, true untargeted attack, 1 pixel, the paper's DE
# budget) on the zoo, one net after another, on this CPU. Resumable: re-run to continue.
export ONEPIXEL_DATA=${ONEPIXEL_DATA:-../shared/data/cifar10} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for m in ${MODELS:-allconv resnet20 nin vgg16}; do
  nice -n 15 onepixel evaluate -m "$m" --n "${N:-100}" -k 1 --protocol strict --mode untargeted --workers "${WORKERS:-1}" \
    --batch-images "${BATCH:-10}" --out "docs/runs/strict-$m"
done

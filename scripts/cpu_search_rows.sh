#!/usr/bin/env bash
# Issue 7's missing live 3/5-pixel cells on this CPU (docs/search.md, "Not done"): rs, CornerSearch and CMA-ES on
# 100 held-out strict-protocol test images, the paper's DE on 50, untargeted then targeted, one process per net
# (default AllConv and NiN side by side). ResNet-20's untargeted set took ~95 min of one core; NiN is slower.
# Resumable: each finished cell is a JSON file in the cache, an unfinished one a .partial checkpoint after every
# --batch-images images (resumed when the code is unchanged). Afterwards copy the new cells (not .partial) into
# docs/measurements/search-cells/<model>-<sha>/ and rebuild the tables and figure of docs/search.md:
#   python benchmarks/search.py --report-only --threads 1 --cache docs/measurements/search-cells \
#     --models resnet20 allconv nin vgg16 --out docs
# Knobs: MODELS, MODES, PIXELS, SEARCHES, N (live images; DE gets half), CACHE.
set -u
export OMP_NUM_THREADS=1 ONEPIXEL_DATA=${ONEPIXEL_DATA:-../shared/data/cifar10}
cache=${CACHE:-runs/bench-search}
n=${N:-100}
mkdir -p "$cache" && cp -rn docs/measurements/search-cells/. "$cache"/
for m in ${MODELS:-allconv nin}; do
  ( for mode in ${MODES:-untargeted targeted}; do
      # shellcheck disable=SC2086  # PIXELS and SEARCHES are lists
      python benchmarks/search.py --threads 1 --models "$m" --n 200 --n-live "$n" --n-de $((n / 2)) \
        --pixels ${PIXELS:-3 5} --modes "$mode" --searches ${SEARCHES:-rs corner cma de} --cache "$cache" \
        --out "/tmp/cpu-search-rows-$m"
    done ) > "/tmp/cpu-search-rows-$m.log" 2>&1 &
done
wait
tail -n 5 /tmp/cpu-search-rows-*.log

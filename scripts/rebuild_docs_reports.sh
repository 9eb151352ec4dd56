#!/usr/bin/env bash
# Re-generate every committed report under docs/runs/ from its results store (summary.json and report.md with
# its figures and tables per run, plus the three side-by-side reports, whose report.html is the one kept in git).
#   ONEPIXEL_DATA=../shared/data/cifar10 PYTHONPATH=src bash scripts/rebuild_docs_reports.sh
set -euo pipefail
PHOTOS=${PHOTOS:-../shared/data/imagenet-sample}
for run in docs/runs/*/; do
  run=${run%/}
  [ -f "$run/results.sqlite" ] || continue
  python3 - "$run" <<'PY'
import json, sys
from pathlib import Path
from onepixel.campaign import load_results, summarize
from onepixel.campaign.evaluate import json_safe
run = Path(sys.argv[1])
df = load_results(run)
classes = df.attrs["config"].get("classes") or []
(run / "summary.json").write_text(json.dumps(json_safe({"config": df.attrs["config"],
                                                        "metrics": summarize(df, len(classes) or 10)}), indent=1))
PY
  case "$run" in *imagenet*) g=4 ;; *) g=8 ;; esac
  python3 -m onepixel.cli report "$run" --gallery "$g" --data "$PHOTOS"
done
python3 -m onepixel.cli report docs/runs/paper-allconv docs/runs/paper-nin docs/runs/paper-vgg16 --out docs/runs/paper-tables
python3 -m onepixel.cli report docs/runs/strict-allconv docs/runs/strict-nin docs/runs/strict-vgg16 docs/runs/strict-resnet20 \
    --out docs/runs/strict-tables
python3 -m onepixel.cli report docs/runs/imagenet-v2-input-de docs/runs/imagenet-v2-file-de --out docs/runs/imagenet-tables \
    --gallery 4 --data "$PHOTOS"

#!/usr/bin/env bash
# The main job on the embedded defaults: the whole loop of configs/default.yaml on a freshly generated synthetic
# cohort — the temporal retriever and LoRA adapters of SmolLM2-135M trained on the train split's table values,
# the test split's cells read with their evidence, scored with bootstrap intervals, and report.html.
# Usage: bash scripts/main.sh [OUT_DIR] [key=value ...]   (default runs/main; overrides go to `clinrag run`)
# About 1.5 minutes on 2 idle CPU cores (docs/main_job.md); started again, it finishes from the stage cache (a killed run resumes).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/main}"
shift || true
CLINRAG=.venv/bin/clinrag
"$CLINRAG" synth --out "$OUT/cohort" --patients 100 --seed 2026 --overwrite
"$CLINRAG" validate "$OUT/cohort" -q
"$CLINRAG" run configs/default.yaml "$@" --cohort "$OUT/cohort" --out "$OUT/run"
echo "main job done: report in $OUT/run/report.html (metrics.json, predictions.csv, provenance.jsonl beside it)"

#!/usr/bin/env bash
# The main job on the embedded defaults. For now: synthesize a cohort, validate it, predict its test split with
# the majority baseline (learned from the train split) and score it with bootstrap intervals.
# Usage: bash scripts/main.sh [OUT_DIR]   (default runs/main)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/main}"
CLINRAG=.venv/bin/clinrag
"$CLINRAG" synth --out "$OUT/cohort" --patients 200 --seed 2026 --overwrite
"$CLINRAG" validate "$OUT/cohort"
"$CLINRAG" baseline --cohort "$OUT/cohort" --method majority --split test --out "$OUT/predictions.csv"
"$CLINRAG" evaluate --cohort "$OUT/cohort" --predictions "$OUT/predictions.csv" --split test --out "$OUT/metrics.json"
echo "main job done: metrics in $OUT/metrics.json"

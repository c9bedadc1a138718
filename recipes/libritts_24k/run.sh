#!/usr/bin/env bash
# LibriTTS at 24 kHz, the Vocos paper setup (experiment=vocos_mel_24khz): train-clean-100 +
# train-clean-360 + train-other-500 for training, 200 dev-clean files for validation.
# Usage: CORPUS=/data/LibriTTS recipes/libritts_24k/run.sh [--stage N] [--stop-stage N] [--runs DIR]
#        [--corpus DIR] [--tiny] [hydra overrides...]      (see README.md)
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=libritts_24k
EXPERIMENT=vocos_mel_24khz
RATE=24000
CORPUS=${CORPUS:-}                        # the folder holding train-clean-100/ ... dev-clean/
SUBSETS=${SUBSETS:-"train-clean-100 train-clean-360 train-other-500"}
N_VAL=${N_VAL:-200}
PREPARE_ARGS=(--workers "${WORKERS:-8}" --no-progress)

recipe_prepare() {  # CORPUS DATA: one filelist of the training subsets + N_VAL dev-clean files
  local corpus=$1 data=$2 s
  mkdir -p "$data"
  for s in $SUBSETS dev-clean; do
    [ -d "$corpus/$s" ] || { echo "$corpus/$s not found: download and extract it (README.md)" >&2; return 2; }
  done
  find -L "$corpus/dev-clean" -name '*.wav' | LC_ALL=C sort | awk -v n="$N_VAL" 'NR % 29 == 1 && c < n { print; c++ }' \
    > "$data/val_files.txt"
  { for s in $SUBSETS; do find -L "$corpus/$s" -name '*.wav'; done | LC_ALL=C sort; cat "$data/val_files.txt"; } \
    > "$data/filelist.txt"
  vocoder-prepare "$data/filelist.txt" --output "$data" --sample-rate "$RATE" \
    --val-list "$data/val_files.txt" "${PREPARE_ARGS[@]}"
}

source "$HERE/../common.sh"
run_recipe "$@"

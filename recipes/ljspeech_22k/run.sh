#!/usr/bin/env bash
# LJSpeech-1.1 at 22.05 kHz (preset=22k, experiment=ljspeech_22k).
# Usage: CORPUS=/data/LJSpeech-1.1 recipes/ljspeech_22k/run.sh [--stage N] [--stop-stage N] [--runs DIR]
#        [--corpus DIR] [--tiny] [hydra overrides...]      (see README.md)
# VAL_LIST=.../validation.txt: HiFi-GAN's LJSpeech held-out list ("LJ050-0269|text|text" lines) or
# any list of file names; without it 1% of the clips (by a hash of the name) are held out.
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=ljspeech_22k
EXPERIMENT=ljspeech_22k
RATE=22050
CORPUS=${CORPUS:-}                        # the LJSpeech-1.1 folder (metadata.csv, wavs/)
PREPARE_ARGS=(--workers "${WORKERS:-4}" --no-progress)

recipe_prepare() {  # CORPUS DATA
  local corpus=$1 data=$2
  [ -d "$corpus/wavs" ] && corpus=$corpus/wavs
  mkdir -p "$data"
  if [ -n "${VAL_LIST:-}" ]; then  # "LJ050-0269|..." or "wavs/LJ050-0269.wav" -> LJ050-0269.wav
    cut -d'|' -f1 "$VAL_LIST" | sed -E 's#.*/##; s#\.wav$##; /^$/d; s#$#.wav#' > "$data/val_names.txt"
    vocoder-prepare "$corpus" --output "$data" --sample-rate "$RATE" --val-list "$data/val_names.txt" "${PREPARE_ARGS[@]}"
  else
    vocoder-prepare "$corpus" --output "$data" --sample-rate "$RATE" --val-fraction 0.01 "${PREPARE_ARGS[@]}"
  fi
}

source "$HERE/../common.sh"
run_recipe "$@"

#!/usr/bin/env bash
# VCTK 0.92 at 44.1 kHz (preset=44k, experiment=vctk_44k): the mic1 recordings of 110 speakers,
# resampled from 48 kHz to 44.1 kHz by the data loader; RATE=48000 keeps them at 48 kHz (preset=48k,
# run folder vctk_48k).
# Usage: CORPUS=/data/VCTK-Corpus-0.92 [RATE=48000] recipes/vctk_44k/run.sh [--stage N] [--stop-stage N]
#        [--runs DIR] [--corpus DIR] [--tiny] [hydra overrides...]      (see README.md)
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=vctk_44k
EXPERIMENT=vctk_44k
RATE=${RATE:-44100}
if [ "$RATE" = 48000 ]; then
  NAME=vctk_48k
  TRAIN_ARGS=(preset=48k)
elif [ "$RATE" != 44100 ]; then
  echo "RATE=$RATE: this recipe trains at 44100 (preset=44k) or 48000 (preset=48k)" >&2
  exit 2
fi
CORPUS=${CORPUS:-}                        # the folder holding wav48_silence_trimmed/
CORPUS_GLOB=${CORPUS_GLOB:-'*_mic1.flac'} # one microphone: mic2 is the same utterance again
PREPARE_ARGS=(--val-fraction 0.01 --workers "${WORKERS:-8}" --no-progress)
source "$HERE/../common.sh"
run_recipe "$@"

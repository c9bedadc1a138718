#!/usr/bin/env bash
# VCTK 0.92 at 44.1 kHz (preset=44k, experiment=vctk_44k): the mic1 recordings of 110 speakers,
# resampled from 48 kHz to 44.1 kHz by the data loader.
# Usage: CORPUS=/data/VCTK-Corpus-0.92 recipes/vctk_44k/run.sh [--stage N] [--stop-stage N] [--runs DIR]
#        [--corpus DIR] [--tiny] [hydra overrides...]      (see README.md)
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=vctk_44k
EXPERIMENT=vctk_44k
RATE=44100
CORPUS=${CORPUS:-}                        # the folder holding wav48_silence_trimmed/
CORPUS_GLOB=${CORPUS_GLOB:-'*_mic1.flac'} # one microphone: mic2 is the same utterance again
PREPARE_ARGS=(--val-fraction 0.01 --workers "${WORKERS:-8}" --no-progress)
source "$HERE/../common.sh"
run_recipe "$@"

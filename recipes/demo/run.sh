#!/usr/bin/env bash
# Demo recipe: the shipped espeak-ng corpus (recipes/demo/corpus, 6 min, 8 voices) ->
# prepare (held-out list) -> train a small Vocos on CPU (~5 min) -> export -> synthesize -> evaluate.
# Usage: recipes/demo/run.sh [--stage N] [--stop-stage N] [--runs DIR] [--tiny] [hydra overrides...]
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=demo
EXPERIMENT=demo
RATE=24000
CORPUS=${CORPUS:-$HERE/corpus}
PREPARE_ARGS=(--val-list "$HERE/corpus/heldout.txt")
EVAL_ARGS=(--crepe-model tiny)  # CREPE full (the paper's pitch metrics) would add minutes on a laptop CPU
source "$HERE/../common.sh"
run_recipe "$@"

#!/usr/bin/env bash
# Fine-tune a local copy of charactr/vocos-mel-24khz (config.yaml + pytorch_model.bin, generator
# only) on your own folder of audio: experiment=finetune init.path=$PRETRAINED.
# Usage: PRETRAINED=/models/vocos-mel-24khz CORPUS=/data/my_voice recipes/finetune_custom/run.sh
#        [--stage N] [--stop-stage N] [--runs DIR] [--corpus DIR] [--tiny] [hydra overrides...]
#   e.g. ... -- model.optim.freeze=[backbone] model.optim.disc_warmup_steps=1000   (see README.md)
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=${NAME:-finetune_custom}
EXPERIMENT=finetune
RATE=24000                                # the released model's rate
CORPUS=${CORPUS:-}
PRETRAINED=${PRETRAINED:-}
PREPARE_ARGS=(--val-fraction "${VAL_FRACTION:-0.05}" --workers "${WORKERS:-4}" --no-progress)
TRAIN_ARGS=("init.path=$PRETRAINED")
# --tiny: 1 discriminator warm-up iteration + GAN iterations from the tiny pretrained folder
TINY_ARGS=(model.optim.pretrain_mel_steps=0 model.optim.disc_warmup_steps=1)

recipe_tiny_setup() {  # RUN_DIR: a generator-only vocos folder written by vocos.Vocos itself
  PRETRAINED=$1/pretrained
  "$BIN/python" "$HERE/make_tiny_pretrained.py" "$PRETRAINED"
  TRAIN_ARGS=("init.path=$PRETRAINED")
}

source "$HERE/../common.sh"
if [ -z "$PRETRAINED" ] && [[ " $* " != *" --tiny "* ]]; then
  echo "set PRETRAINED=<folder with config.yaml + pytorch_model.bin> (README.md: how to download it)" >&2
  exit 2
fi
run_recipe "$@"

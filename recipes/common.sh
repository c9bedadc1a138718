#!/usr/bin/env bash
# Shared stage runner for the recipes. A recipe's run.sh sets:
#   NAME        run name (folder runs/<NAME>)
#   EXPERIMENT  Hydra experiment (configs/experiment/<EXPERIMENT>.yaml)
#   CORPUS      the audio folder/filelist (the user downloads it; the README says from where)
#   RATE        the recipe's sample rate (for --tiny and the prepare report)
#   PREPARE_ARGS (array, optional) extra vocoder-prepare arguments
#   TRAIN_ARGS   (array, optional) extra vocoder-train overrides (e.g. init.path=...)
#   TINY_ARGS    (array, optional) extra vocoder-train overrides for --tiny only
#   EVAL_ARGS    (array, optional) extra vocoder-evaluate arguments (e.g. --crepe-model tiny)
#   CORPUS_GLOB  (optional) only files matching this name pattern (e.g. '*_mic1.flac') are prepared
# and may define shell functions:
#   recipe_prepare CORPUS DATA   replaces stage 1's vocoder-prepare call (not under --tiny)
#   recipe_tiny_setup RUN_DIR    runs before stage 1 under --tiny (e.g. makes a pretrained folder)
# then sources this file and calls `run_recipe "$@"`.
#
# Usage: run.sh [--stage N] [--stop-stage N] [--runs DIR] [--corpus DIR] [--tiny] [-- hydra overrides...]
#   stages: 1 prepare, 2 train, 3 export (vocos folder + ONNX), 4 synthesize held-out files,
#           5 evaluate (metrics + report on the validation set)
#   --tiny  a smoke run on a generated corpus at the recipe's rate (seconds, any machine)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${VENV_BIN:-$ROOT/.venv/bin}
export PATH="$BIN:$PATH"

log() { printf '\n\033[1m[%s] %s\033[0m\n' "$NAME" "$*"; }

make_tiny_corpus() {  # make_tiny_corpus DIR RATE: 10 short harmonic files with pitch glides
  "$BIN/python" - "$1" "$2" <<'PY'
import math, sys, torch
from vocoder_train.io.audio import save_audio
out, sr = sys.argv[1], int(sys.argv[2])
for i in range(10):
    t = torch.arange(int(sr * (0.8 + 0.1 * i))) / sr
    f0 = 100 + 25 * i
    ph = 2 * math.pi * f0 * (t + 0.3 * t * t)
    x = sum(0.25 / k * torch.sin(k * ph) for k in range(1, 8) if k * f0 * 1.6 < sr / 2)
    save_audio(f"{out}/utt_{i:02d}.wav", x + 0.003 * torch.randn_like(t), sr)
PY
}

run_recipe() {
  local stage=1 stop=5 runs="$ROOT/runs" tiny=0
  local -a overrides=()
  [ -n "${PREPARE_ARGS+x}" ] || PREPARE_ARGS=()
  [ -n "${TRAIN_ARGS+x}" ] || TRAIN_ARGS=()
  [ -n "${TINY_ARGS+x}" ] || TINY_ARGS=()
  [ -n "${EVAL_ARGS+x}" ] || EVAL_ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --stage) stage=$2; shift 2 ;;
      --stop-stage) stop=$2; shift 2 ;;
      --runs) runs=$2; shift 2 ;;
      --corpus) CORPUS=$2; shift 2 ;;
      --tiny) tiny=1; shift ;;
      --) shift; overrides+=("$@"); break ;;
      -h|--help) sed -n '2,23p' "$ROOT/recipes/common.sh"; return 0 ;;
      *) overrides+=("$1"); shift ;;
    esac
  done
  local name=$NAME corpus=${CORPUS:-}
  if [ "$tiny" = 1 ]; then
    name="${NAME}_tiny"
    corpus="$runs/$name/corpus"
    mkdir -p "$corpus"
    make_tiny_corpus "$corpus" "$RATE"
    PREPARE_ARGS=(--val-fraction 0.2 --min-duration 0.3)
    # 2 mel-only + 2 GAN iterations of a tiny model; validation crops as long as the training ones
    overrides=(model/generator=tiny model/discriminator=tiny data=tiny trainer.max_steps=6
               trainer.val_check_interval=2 trainer.limit_val_batches=1 trainer.max_time=null
               model.optim.pretrain_mel_steps=2 model.optim.disc_warmup_steps=0
               'data.val_segment_length=${audio.segment_length}' validation.metrics=[]
               data.batch_size=2 data.num_workers=0 "${TINY_ARGS[@]}" "${overrides[@]}")
    EVAL_ARGS+=(--crepe-model tiny)  # a smoke run: CREPE full costs seconds per file on a CPU
  fi
  local run="$runs/$name" data="$runs/$name/data"
  local ckpt="$run/checkpoints/last.ckpt"
  mkdir -p "$run"
  if [ "$tiny" = 1 ] && declare -F recipe_tiny_setup >/dev/null; then
    log "tiny setup"
    recipe_tiny_setup "$run"
  fi

  if [ "$stage" -le 1 ] && [ "$stop" -ge 1 ]; then
    log "stage 1: prepare $corpus -> $data"
    [ -n "$corpus" ] && [ -e "$corpus" ] || {
      echo "corpus not found: '${corpus}' (see recipes/$NAME/README.md for where to get it; pass --corpus DIR or set CORPUS=...)" >&2
      return 2
    }
    if [ "$tiny" = 0 ] && declare -F recipe_prepare >/dev/null; then
      recipe_prepare "$corpus" "$data"
    elif [ "$tiny" = 0 ] && [ -n "${CORPUS_GLOB:-}" ]; then
      mkdir -p "$data"
      find -L "$corpus" -type f -name "$CORPUS_GLOB" | LC_ALL=C sort > "$data/filelist.txt"
      [ -s "$data/filelist.txt" ] || { echo "no file named '$CORPUS_GLOB' under $corpus" >&2; return 2; }
      vocoder-prepare "$data/filelist.txt" --output "$data" --sample-rate "$RATE" "${PREPARE_ARGS[@]}"
    else
      vocoder-prepare "$corpus" --output "$data" --sample-rate "$RATE" "${PREPARE_ARGS[@]}"
    fi
  fi
  if [ "$stage" -le 2 ] && [ "$stop" -ge 2 ]; then
    log "stage 2: train experiment=$EXPERIMENT -> $run"
    vocoder-train "experiment=$EXPERIMENT" "run_name=$name" "paths.runs_dir=$runs" \
      "data.train=$data/train.jsonl" "data.val=$data/val.jsonl" "${TRAIN_ARGS[@]}" "${overrides[@]}"
  fi
  if [ "$stage" -le 3 ] && [ "$stop" -ge 3 ]; then
    log "stage 3: export $ckpt"
    vocoder-export "$ckpt" --output "$run/export/vocos" --format vocos --force
    vocoder-export "$ckpt" --output "$run/export/onnx" --format onnx --force
  fi
  if [ "$stage" -le 4 ] && [ "$stop" -ge 4 ]; then
    log "stage 4: synthesize the validation files with the exported vocos folder"
    vocoder-synthesize "$run/export/vocos" "$data/val.jsonl" --output "$run/synth"
  fi
  if [ "$stage" -le 5 ] && [ "$stop" -ge 5 ]; then
    log "stage 5: evaluate on the validation files"
    vocoder-evaluate "$ckpt" --data "$data/val.jsonl" --output "$run/eval" "${EVAL_ARGS[@]}"
  fi
  log "done. Run folder: $run
  checkpoints:  $run/checkpoints/
  TensorBoard:  tensorboard --logdir $run/tensorboard
  exports:      $run/export/{vocos,onnx}   (vocos.Vocos.from_hparams(config.yaml) + pytorch_model.bin)
  audio:        $run/synth/
  evaluation:   $run/eval/report.md, $run/eval/report.html (listen in a browser)"
}

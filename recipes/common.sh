#!/usr/bin/env bash
# Shared stage runner for the recipes. A recipe's run.sh sets:
#   NAME        run name (folder runs/<NAME>)
#   EXPERIMENT  Hydra experiment (configs/experiment/<EXPERIMENT>.yaml)
#   CORPUS      the audio folder/filelist (the user downloads it; the README says from where)
#   RATE        the recipe's sample rate (for --tiny and the prepare report)
#   PREPARE_ARGS (array, optional) extra vocoder-prepare arguments
# then sources this file and calls `run_recipe "$@"`.
#
# Usage: run.sh [--stage N] [--stop-stage N] [--runs DIR] [--tiny] [-- hydra overrides...]
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
from vocoder_train.data.audio_io import save_audio
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
  while [ $# -gt 0 ]; do
    case "$1" in
      --stage) stage=$2; shift 2 ;;
      --stop-stage) stop=$2; shift 2 ;;
      --runs) runs=$2; shift 2 ;;
      --tiny) tiny=1; shift ;;
      --) shift; overrides+=("$@"); break ;;
      -h|--help) sed -n '2,16p' "$ROOT/recipes/common.sh"; return 0 ;;
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
    overrides=(model/generator=tiny model/discriminator=tiny data=tiny trainer.max_steps=6
               trainer.val_check_interval=2 trainer.limit_val_batches=1 trainer.max_time=null
               data.batch_size=2 data.num_workers=0 "${overrides[@]}")
  fi
  local run="$runs/$name" data="$runs/$name/data"
  local ckpt="$run/checkpoints/last.ckpt"
  mkdir -p "$run"

  if [ "$stage" -le 1 ] && [ "$stop" -ge 1 ]; then
    log "stage 1: prepare $corpus -> $data"
    [ -e "$corpus" ] || { echo "corpus not found: $corpus (see recipes/$NAME/README.md for where to get it, or set CORPUS=...)" >&2; return 2; }
    vocoder-prepare "$corpus" --output "$data" --sample-rate "$RATE" "${PREPARE_ARGS[@]}"
  fi
  if [ "$stage" -le 2 ] && [ "$stop" -ge 2 ]; then
    log "stage 2: train experiment=$EXPERIMENT -> $run"
    vocoder-train "experiment=$EXPERIMENT" "run_name=$name" "paths.runs_dir=$runs" \
      "data.train=$data/train.jsonl" "data.val=$data/val.jsonl" "${overrides[@]}"
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
    vocoder-evaluate "$ckpt" --data "$data/val.jsonl" --output "$run/eval"
  fi
  log "done. Run folder: $run
  checkpoints:  $run/checkpoints/
  TensorBoard:  tensorboard --logdir $run/tensorboard
  exports:      $run/export/{vocos,onnx}   (vocos.Vocos.from_hparams(config.yaml) + pytorch_model.bin)
  audio:        $run/synth/
  evaluation:   $run/eval/report.md"
}

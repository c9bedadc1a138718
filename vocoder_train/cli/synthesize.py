"""``vocoder-synthesize``: waveforms from audio files (copy synthesis) or mel ``.npy`` files.

    vocoder-synthesize runs/demo/checkpoints/last.ckpt speech/ --output out/
    vocoder-synthesize exported/onnx mels/utt1.npy mels/utt2.npy -o out/ --chunk-seconds 2

MODEL is any kind :mod:`vocoder_train.models.store` loads: a training checkpoint (``.ckpt``), a
vocos folder (config.yaml + pytorch_model.bin), or a ``vocoder-export`` folder/file (safetensors,
TorchScript, ONNX). Each INPUT (a file, a folder of them, a manifest or a filelist) becomes
``<output>/<stem>.wav`` at the model's sample rate. Long inputs are decoded in chunks with the
model's receptive field as context (:mod:`vocoder_train.models.inference.chunked`), which equals
the one-shot output. Argument parsing and printing over :func:`vocoder_train.api.synthesize_files`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from vocoder_train.api import collect_inputs, load_vocoder, synthesize_files
from vocoder_train.models.store import ENGINES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vocoder-synthesize",
        description="Synthesize waveforms with a trained vocoder, from audio files (copy synthesis) or mel .npy files.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  vocoder-synthesize runs/demo/checkpoints/last.ckpt corpus/val/ --output out/
  vocoder-synthesize exported/vocos speech.flac -o out/ --device cuda
  vocoder-synthesize exported/onnx tts_mels/ -o out/ --chunk-seconds 1   # mels: (n_mels, frames) .npy

MODEL: a training checkpoint (.ckpt), a vocos folder (config.yaml + pytorch_model.bin), or a
vocoder-export folder / file (generator.safetensors, generator.torchscript.pt, generator.onnx,
with config.yaml beside it). Audio inputs are resampled to the model's rate; mel inputs must
have the model's number of bins. Speed is printed as audio seconds / wall seconds ("x real
time", higher is faster) and as RTF = wall / audio (lower is faster).""",
    )
    p.add_argument("model", help="checkpoint, vocos folder, or vocoder-export folder/file")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio (wav/flac/mp3/...) or mel .npy files, folders of them, manifests or filelists")  # fmt: skip
    p.add_argument("-o", "--output", required=True, help="folder for <stem>.wav outputs (created if missing)")
    p.add_argument("--chunk-seconds", type=float, default=10.0,
                   help="decode long inputs in chunks of this many seconds of frames (0: one shot; default 10)")  # fmt: skip
    p.add_argument("--context-frames", type=int, default=None,
                   help="frames of context decoded and dropped on each side of a chunk (default: the model's receptive field)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--ema", action="store_true", help="use the EMA weights of a training checkpoint")
    p.add_argument("--engine", choices=ENGINES, default="fused",
                   help="PyTorch weights only: fused (default; same output, fewer memory passes), fused-bf16 "
                   "(bf16 pointwise products, ~1.9x on CPUs with native bf16, ~1e-4 max abs difference), or eager")  # fmt: skip
    return p


def _file_line(row: dict) -> str:
    audio_s, wall_s = row["audio_s"], row["wall_s"]
    return (f"{Path(row['output']).name}: {audio_s:.2f} s of audio in {wall_s:.3f} s wall "
            f"(read + features + decode) = {audio_s / wall_s:.1f}x real time (audio s / wall s; RTF wall/audio "
            f"{wall_s / audio_s:.4f}), {row['chunks']} chunk(s), first-chunk latency {1e3 * row['first_chunk_s']:.1f} ms")  # fmt: skip


def _run(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    vocoder = load_vocoder(args.model, device=args.device, ema=args.ema, engine=args.engine)
    engine = f", {vocoder.engine}" if hasattr(vocoder, "engine") else ""
    print(f"model: {vocoder.source} ({vocoder.kind}{engine}), {vocoder.sample_rate} Hz, hop {vocoder.hop_length}, "
          f"{vocoder.n_mels} mels, loaded in {time.perf_counter() - t0:.2f} s")  # fmt: skip
    files = collect_inputs(args.inputs)
    vocoder.decode(torch.zeros(1, vocoder.n_mels, 8))  # warm-up, so the first file's figures are not one-time setup
    with tqdm(total=len(files), desc="synthesize", unit="file", disable=len(files) < 2) as bar:

        def show(result: dict) -> None:
            if "error" in result:
                bar.write(f"error: {result['error']}", file=sys.stderr)
            else:
                bar.write(_file_line(result))
            bar.update()

        return synthesize_files(vocoder, files, args.output, args.chunk_seconds, args.context_frames, on_file=show)


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    args = build_parser().parse_args(argv)
    try:
        result = _run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:  # InputError and ModelError are ValueErrors
        print(f"vocoder-synthesize: error: {e}", file=sys.stderr)
        return 1
    n_ok, audio_s, wall_s = len(result["files"]), result["audio_s"], result["wall_s"]
    if n_ok:
        print(f"total: {n_ok} file(s), {audio_s:.2f} s of audio in {wall_s:.3f} s wall = {audio_s / wall_s:.1f}x "
              f"real time (audio s / wall s; RTF wall/audio {wall_s / audio_s:.4f}) -> {args.output}")  # fmt: skip
    if result["failed"]:
        print(f"vocoder-synthesize: {len(result['failed'])} input(s) failed:\n"
              + "\n".join(f"  {f['error']}" for f in result["failed"]), file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

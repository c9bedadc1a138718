"""``vocoder-synthesize``: waveforms from audio files (copy synthesis) or mel ``.npy`` files (or, for a
model on precomputed features, ``.npy`` files of those features).

    vocoder-synthesize runs/demo/checkpoints/last.ckpt speech/ --output out/
    vocoder-synthesize exported/onnx mels/utt1.npy mels/utt2.npy -o out/ --chunk-seconds 2

MODEL is any kind :mod:`vocoder_train.models.store` loads: a training checkpoint (``.ckpt``), a
vocos folder (config.yaml + pytorch_model.bin), or a ``vocoder-export`` folder/file (safetensors,
TorchScript, ONNX). Each INPUT (a file, a folder of them, a manifest or a filelist) becomes
``<output>/<stem>.wav`` at the model's sample rate. Long inputs are decoded in chunks with the
model's receptive field as context (:mod:`vocoder_train.models.inference.chunked`), which equals
the one-shot output. ``--stream --chunk-frames N`` decodes through the model's streamer
(:mod:`vocoder_train.models.inference.streaming`) and prints its latency and per-chunk compute time.
Argument parsing and printing over :func:`vocoder_train.api.synthesize_files`.
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
from vocoder_train.io.filekind import INPUT_KINDS, WrongFileKind
from vocoder_train.models.vocoder import ENGINES

USAGE = "vocoder-synthesize MODEL INPUT... -o OUT"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vocoder-synthesize",
        description="Synthesize waveforms with a trained vocoder, from audio files (copy synthesis) or mel "
        ".npy files; a model trained on precomputed features (experiment=features) takes .npy files of "
        "those.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  vocoder-synthesize runs/demo/checkpoints/last.ckpt corpus/val/ --output out/
  vocoder-synthesize exported/vocos speech.flac -o out/ --device cuda
  vocoder-synthesize exported/onnx tts_mels/ -o out/ --chunk-seconds 1   # mels: (n_mels, frames) .npy
  vocoder-synthesize runs/feats/checkpoints/last.ckpt feats/a.npy -o out/  # features: (channels, frames)
  vocoder-synthesize runs/encodec/checkpoints/last.ckpt codes/a.npy -o out/ --bandwidth 6  # EnCodec codes
  vocoder-synthesize runs/mimi/checkpoints/last.ckpt codes/ -o out/ --codebooks 8  # Mimi codes (8, frames)
  vocoder-synthesize exported/onnx tts_mels/ -o out/ --threads 1  # one CPU thread (torch and ONNX Runtime)
  vocoder-synthesize runs/causal/checkpoints/last.ckpt tts_mels/ -o out/ --stream --chunk-frames 2
  vocoder-synthesize exported/vocos tts_mels/ -o out/ --stream --chunk-frames 4 --lookahead 4   # non-causal

MODEL: a training checkpoint (.ckpt), a vocos folder (config.yaml + pytorch_model.bin), or a
vocoder-export folder / file (generator.safetensors, generator.torchscript.pt, generator.onnx,
with config.yaml beside it). Audio inputs are resampled to the model's rate; mel inputs must
have the model's number of bins, feature inputs its number of channels. Speed is printed as
audio seconds / wall seconds ("x real time", higher is faster) and as RTF = wall / audio (lower
is faster).

--stream: a causal model (model/generator=vocos_causal; its checkpoint, vocos folder, or an
onnx-stream export) streams exactly with carried state; a non-causal one needs --lookahead K (K
frames held back, re-decoding its receptive field each chunk; not exact for small K). Printed per
file: algorithmic latency, first-chunk wall latency, per-chunk compute median / p95, and RTF
(compute / audio).

exit status: 0 when every input was written, 2 on bad arguments or when MODEL holds another kind
of file (a mel, audio, a config: the model comes first), 1 on other errors or failed inputs.""",
    )
    p.add_argument("model", help="checkpoint, vocos folder, or vocoder-export folder/file")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio (wav/flac/mp3/...) or mel / features .npy files, folders of them, manifests or filelists",
    )
    p.add_argument("-o", "--output", required=True, help="folder for <stem>.wav outputs (created if missing)")
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=10.0,
        help="decode long inputs in chunks of this many seconds of frames (0: one shot; default 10)",
    )
    p.add_argument(
        "--context-frames",
        type=int,
        default=None,
        help="frames of context decoded and dropped on each side of a chunk (default: the model's receptive "
        "field)",
    )
    codec = p.add_mutually_exclusive_group()
    codec.add_argument(
        "--bandwidth",
        type=float,
        default=None,
        metavar="KBPS",
        help="a codec model's bandwidth in kbps (EnCodec: 1.5, 3, 6 or 12; a transformers codec: its "
        "codebook counts', e.g. Mimi 1.1 = 8 codebooks; an unknown value lists them; default: its highest); "
        "audio is encoded at it and codes .npy files (codebooks, frames) must have its codebook count",
    )
    codec.add_argument(
        "--codebooks",
        type=int,
        default=None,
        metavar="N",
        help="a codec model's bandwidth given by its number of codebooks (one of the counts it was trained "
        "with; an unknown value lists them)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for decoding, PyTorch and ONNX Runtime alike (default: PyTorch's, one per "
        "physical core)",
    )
    p.add_argument("--ema", action="store_true", help="use the EMA weights of a training checkpoint")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="PyTorch weights only: auto (default: fused-bf16 where bf16 is native and the model's "
        "output on a probe stays within 1e-4 of fp32, else fused), fused (same output as vocos, fewer "
        "memory passes), fused-bf16 (bf16 pointwise products, ~1.9x where bf16 is native), or eager",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the per-file lines stay)")
    s = p.add_argument_group("streaming")
    s.add_argument(
        "--stream",
        action="store_true",
        help="decode through the model's streamer, chunk by chunk, and print its latency figures",
    )
    s.add_argument(
        "--chunk-frames",
        type=int,
        default=None,
        metavar="N",
        help="with --stream: mel frames pushed per call (default 4)",
    )
    s.add_argument(
        "--lookahead",
        type=int,
        default=None,
        metavar="K",
        help="with --stream: frames held back, to stream a non-causal model (causal models need none)",
    )
    return p


def _stream_line(row: dict) -> str:
    latency = "n/a (unknown front end)" if row["latency_ms"] is None else f"{row['latency_ms']:.1f} ms"
    return (
        f"  stream: {row['stream']}; chunks of {row['chunk_frames']} frames ({row['chunk_ms']:.1f} ms): "
        "algorithmic "
        f"latency {latency}, first-chunk wall latency {row['first_audio_ms']:.1f} ms, per-chunk compute "
        "median "
        f"{row['chunk_ms_median']:.2f} ms / p95 {row['chunk_ms_p95']:.2f} ms, RTF {row['rtf']:.4f} "
        "(compute / "
        "audio)"
    )


def _file_line(row: dict) -> str:
    audio_s, wall_s = row["audio_s"], row["wall_s"]
    return (
        f"{Path(row['output']).name}: {audio_s:.2f} s of audio in {wall_s:.3f} s wall "
        f"(read + features + decode) = {audio_s / wall_s:.1f}x real time (audio s / wall s; RTF wall/audio "
        f"{wall_s / audio_s:.4f}), {row['chunks']} chunk(s), "
        f"first-chunk latency {1e3 * row['first_chunk_s']:.1f} ms"
    )


def _warm_up(vocoder) -> None:
    """One silent file through the whole path (read, features, decode, write), so that the first real
    file's figures hold no one-time set-up (the audio decoder's start, the first features and decode);
    for a model on precomputed features, a .npy of zero features."""
    import tempfile

    import numpy as np

    from vocoder_train.api import synthesize_file
    from vocoder_train.io.audio import save_audio

    with tempfile.TemporaryDirectory() as tmp:
        if vocoder.takes_audio:
            src = Path(tmp) / "silence.wav"
            save_audio(src, torch.zeros(1, vocoder.hop_length * 16), vocoder.sample_rate)
        else:
            src = Path(tmp) / "silence.npy"
            np.save(src, np.zeros((vocoder.n_mels, 16), np.float32))
        synthesize_file(vocoder, src, Path(tmp) / "out.wav")


def _streamer(vocoder, lookahead: int | None):
    """``vocoder.stream(lookahead)``; a model that streams only with a look-ahead is refused with the flag
    that gives one."""
    from vocoder_train.models.inference.stream_step import NotStreamable
    from vocoder_train.models.stored_config import ModelError

    try:
        return vocoder.stream(lookahead)
    except ModelError as e:
        if lookahead is None and isinstance(e.__cause__, NotStreamable):
            raise ModelError(f"{e}; --lookahead K gives the look-ahead") from e
        raise


def _run(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # ONNX Runtime sessions take torch's count
    vocoder = load_vocoder(args.model, device=args.device, ema=args.ema, engine=args.engine)
    if args.bandwidth is not None:
        vocoder.set_bandwidth(args.bandwidth)
    if args.codebooks is not None:
        vocoder.set_codebooks(args.codebooks)
    engine = f", engine {vocoder.engine}" if hasattr(vocoder, "engine") else ""
    engine += f": {vocoder.engine_note}" if getattr(vocoder, "engine_note", "") else ""
    takes = f"{vocoder.n_mels} mels" if vocoder.takes_audio else f"{vocoder.n_mels}-channel features (.npy)"
    if vocoder.bandwidths:
        i = -1 if vocoder.condition is None else vocoder.condition  # the highest unless one was set
        kbps, n = vocoder.bandwidths[i], vocoder.codebook_counts[i]
        codec = getattr(vocoder.feature_extractor, "codec_name", "codec")
        takes = f"{codec} codes at {float(kbps):.3g} kbps, {n} codebooks (audio or codes .npy)"
    print(
        f"model: {vocoder.source} ({vocoder.kind}{engine}), {vocoder.sample_rate} Hz, hop "
        f"{vocoder.hop_length}, {takes}, loaded in {time.perf_counter() - t0:.2f} s"
    )
    files = collect_inputs(args.inputs)
    _warm_up(vocoder)
    if args.stream:  # refuses a model that cannot stream as asked, before any file
        streamer = _streamer(vocoder, args.lookahead)
        streamer.push(torch.zeros(1, vocoder.n_mels, args.chunk_frames))
        streamer.flush()
        print(f"streaming: {streamer.description}")
    with tqdm(
        total=len(files), desc="synthesize", unit="file", disable=args.no_progress or len(files) < 2
    ) as bar:

        def show(result: dict) -> None:
            if "error" in result:
                bar.write(f"error: {result['error']}", file=sys.stderr)
            else:
                bar.write(_file_line(result) + ("\n" + _stream_line(result) if "stream" in result else ""))
            bar.update()

        return synthesize_files(
            vocoder,
            files,
            args.output,
            args.chunk_seconds,
            args.context_frames,
            on_file=show,
            stream_frames=args.chunk_frames if args.stream else 0,
            lookahead=args.lookahead,
        )


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.stream and (args.chunk_frames is not None or args.lookahead is not None):
        parser.error("--chunk-frames and --lookahead go with --stream")
    args.chunk_frames = 4 if args.chunk_frames is None else args.chunk_frames
    if args.chunk_frames < 1 or (args.lookahead is not None and args.lookahead < 0):
        parser.error(f"--chunk-frames {args.chunk_frames} must be >= 1 and --lookahead {args.lookahead} >= 0")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads {args.threads} must be >= 1")
    try:
        result = _run(args)
    except WrongFileKind as e:  # the model is another kind of file: a usage error, as argparse's
        fix = f"the model comes first: {USAGE}" if e.found.name in INPUT_KINDS else None
        print(f"vocoder-synthesize: error: {e.line(fix)}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, RuntimeError) as e:  # InputError and ModelError are ValueErrors
        print(f"vocoder-synthesize: error: {e}", file=sys.stderr)
        return 1
    n_ok, audio_s, wall_s = len(result["files"]), result["audio_s"], result["wall_s"]
    if n_ok:
        print(
            f"total: {n_ok} file(s), {audio_s:.2f} s of audio in {wall_s:.3f} s wall "
            f"= {audio_s / wall_s:.1f}x "
            f"real time (audio s / wall s; RTF wall/audio {wall_s / audio_s:.4f}) -> {args.output}"
        )
    if result["failed"]:
        print(
            f"vocoder-synthesize: {len(result['failed'])} input(s) failed:\n"
            + "\n".join(f"  {f['error']}" for f in result["failed"]),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

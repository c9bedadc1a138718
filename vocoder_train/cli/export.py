"""``vocoder-export``: a training checkpoint (or vocos folder) -> files other tools load.

    vocoder-export runs/demo/checkpoints/last.ckpt --output exported/vocos --format vocos
    vocoder-export runs/demo/checkpoints/last.ckpt -o exported/onnx -f onnx --ema
    vocoder-export runs/demo/checkpoints/last.ckpt -o exported/int8 -f onnx --quantize int8

Argument parsing and printing over :func:`vocoder_train.models.export.export` (checks and atomic
publishing are described there, the formats in :mod:`vocoder_train.models.export_formats`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vocoder_train.io.filekind import WrongFileKind
from vocoder_train.models.export import FORMATS, ExportError, OutputExists, UnsupportedForExport, export
from vocoder_train.models.quantize import (
    DEFAULT_METHOD,
    MAX_MEL_L1_RISE,
    MAX_PESQ_DROP,
    METHODS,
    QUALITY_FILES,
    QuantizeSettings,
)

USAGE = "vocoder-export CKPT_OR_FOLDER -o OUT -f FORMAT"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vocoder-export",
        description="Export a vocoder_train checkpoint (or a vocos folder / safetensors export) to files "
        "other tools load, "
        "after checking them against the training model.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""formats:
  vocos        config.yaml + pytorch_model.bin for vocos.Vocos.from_hparams + load_state_dict
  safetensors  config.yaml + generator.safetensors (config also in the file's metadata)
  torchscript  config.yaml + generator.torchscript.pt, mel (B, n_mels, frames) -> audio (B, samples)
  onnx         config.yaml + generator.onnx, the same graph, dynamic batch and time axes
  onnx-stream  config.yaml + generator.stream.onnx, a causal generator's streaming step:
               (mel chunk, *state) -> (audio, tail_audio, *next_state); load_vocoder(...).stream()
  sherpa-onnx  config.yaml + vocoder.sherpa.onnx for sherpa-onnx's TTS (Matcha, ZipVoice): model_type
               vocos (mel -> mag, cos, sin; sherpa-onnx runs the inverse STFT) or hifigan (mel -> audio),
               with the metadata it reads; says whose mel the model takes

examples:
  vocoder-export runs/demo/checkpoints/last.ckpt --output exported/demo-vocos --format vocos
  vocoder-export runs/demo/checkpoints/last.ckpt --output exported/demo-onnx --format onnx --ema
  vocoder-export path/to/vocos-mel-24khz --output exported/ts --format torchscript --force
  vocoder-export runs/causal/checkpoints/last.ckpt --output exported/stream --format onnx-stream
  vocoder-export runs/zipvoice_vocoder/checkpoints/last.ckpt -o exported/sherpa -f sherpa-onnx
  vocoder-export runs/demo/checkpoints/last.ckpt -o exported/int8 -f onnx --quantize int8

The export is built in a temporary folder next to --output, reloaded, run on two mels and compared
with the training model; it replaces --output only when the max abs difference is <= --tolerance.
torchscript/onnx need an ISTFT head (IMDCT heads: use vocos or safetensors); onnx-stream needs a
causal generator (model/generator=vocos_causal).

-f onnx --quantize int8 quantizes the backbone's MatMuls (the head's output projection and the ISTFT
stay fp32), times the fp32 and int8 graphs in one-thread ONNX Runtime sessions and scores both on
validation files (the checkpoint's data.val, or --quality-data). It writes nothing, and exits 1, when
the mean PESQ drops by more than --max-pesq-drop or the mean mel L1 rises by more than
--max-mel-l1-rise, unless --force-quality.

exit status: 0 on success, 2 on bad arguments or when CKPT_OR_FOLDER holds another kind of file
(audio, a mel, a config, an ONNX or TorchScript graph), 1 on other errors.""",
    )
    p.add_argument(
        "source",
        metavar="CKPT_OR_FOLDER",
        help="training checkpoint (.ckpt), vocos folder, or safetensors export (file or folder)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="folder to write (must be absent or empty unless --force)"
    )
    p.add_argument("-f", "--format", required=True, choices=FORMATS, help="what to write (see below)")
    p.add_argument("--ema", action="store_true", help="export the EMA weights stored in the checkpoint")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--tolerance", type=float, default=1e-4, help="max abs difference allowed, fp32 (default 1e-4)"
    )
    p.add_argument(
        "--sherpa-form",
        choices=("auto", "vocos", "hifigan"),
        default="auto",
        help="-f sherpa-onnx: auto (default: the vocos form where the head allows it, which ZipVoice and "
        "Matcha take), vocos, or hifigan (the whole graph, our exact samples; Matcha)",
    )
    p.add_argument("--force", action="store_true", help="replace a non-empty --output")
    q = p.add_argument_group("int8 (-f onnx --quantize int8)")
    q.add_argument("--quantize", choices=("int8",), default=None, help="write an int8 ONNX graph")
    q.add_argument(
        "--quantize-method",
        choices=METHODS,
        default=DEFAULT_METHOD,
        help=f"dynamic: activation ranges per call, no data; static: ranges calibrated on training files "
        f"(default {DEFAULT_METHOD}: measured faster and closer to fp32)",
    )
    q.add_argument(
        "--calibration",
        metavar="DATA",
        default=None,
        help="static: manifest, filelist or folder of audio to calibrate on (default: the checkpoint's "
        "data.train)",
    )
    q.add_argument(
        "--quality-data",
        metavar="DATA",
        default=None,
        help="manifest, filelist or folder the quality gate scores (default: the checkpoint's data.val)",
    )
    q.add_argument(
        "--quality-files",
        type=int,
        default=QUALITY_FILES,
        help=f"how many of those files are scored (default {QUALITY_FILES})",
    )
    q.add_argument(
        "--max-pesq-drop",
        type=float,
        default=MAX_PESQ_DROP,
        help=f"refuse when the mean PESQ drops more than this, fp32 -> int8 (default {MAX_PESQ_DROP})",
    )
    q.add_argument(
        "--max-mel-l1-rise",
        type=float,
        default=MAX_MEL_L1_RISE,
        help=f"refuse when the mean mel L1 rises more than this (default {MAX_MEL_L1_RISE})",
    )
    q.add_argument(
        "--force-quality", action="store_true", help="write the int8 graph whatever the gate measures"
    )
    return p


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _fix(e: WrongFileKind) -> str:
    if e.found.name in ("onnx", "torchscript"):
        return (
            "it is a traced graph; export from the checkpoint, vocos folder or safetensors export it was "
            f"made from: {USAGE}"
        )
    return f"give one of those: {USAGE}"


def _output_fix(e: OutputExists) -> str:
    """What to do about an --output that is taken, in this command's flags."""
    return (
        "pass --force to replace it, or choose another --output"
        if e.replaceable
        else "choose another --output"
    )


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quantize and args.format != "onnx":
        parser.error(f"--quantize int8 is for -f onnx, not -f {args.format}")
    if args.quality_files < 1:
        parser.error(f"--quality-files: at least 1 file, got {args.quality_files}")
    quantize = None
    if args.quantize:
        quantize = QuantizeSettings(
            args.quantize_method,
            args.calibration,
            args.quality_data,
            args.max_pesq_drop,
            args.max_mel_l1_rise,
            args.force_quality,
            args.quality_files,
        )
    try:
        r = export(
            args.source,
            args.output,
            args.format,
            ema=args.ema,
            opset=args.opset,
            force=args.force,
            tolerance=args.tolerance,
            sherpa_form=args.sherpa_form,
            quantize=quantize,
        )
    except WrongFileKind as e:  # a usage error, as argparse's: one line, status 2
        print(f"vocoder-export: error: {e.line(_fix(e))}", file=sys.stderr)
        return 2
    except OutputExists as e:
        print(f"vocoder-export: error: {e}; {_output_fix(e)}", file=sys.stderr)
        return 1
    except (ExportError, UnsupportedForExport, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"vocoder-export: error: {e}", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{f} ({_size((r.output / f).stat().st_size)})" for f in r.files)
    print(f"format: {r.format} -> {r.output}")
    print(f"files: {sizes}")
    print(f"parameters: {r.parameters:,}; sample rate: {r.sample_rate} Hz")
    print(
        f"max abs diff vs training model{' (the fp32 graph quantized)' if r.quantization else ''}: "
        f"{r.max_abs_diff:.3e} (tolerance {r.tolerance:.1e}; "
        f"{r.probes} of {' and '.join(map(str, r.probe_frames))} frames)"
    )
    if r.quantization is not None:
        for line in r.quantization.lines():
            print(line)
        if r.quantization.failures:
            print(f"warning: written with --force-quality: {'; '.join(r.quantization.failures)}")
    for note in r.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

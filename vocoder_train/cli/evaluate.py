"""``vocoder-evaluate``: copy-synthesis of reference files through a model, scored with objective metrics.

    vocoder-evaluate runs/demo/checkpoints/last.ckpt --data val.jsonl -o eval/demo
    vocoder-evaluate exported/onnx --data corpus/ --output eval/x --metrics pesq mel_l1 --max-files 50

MODEL is any kind :mod:`vocoder_train.models.store` loads (checkpoint, vocos folder, safetensors,
TorchScript, ONNX). Writes ``metrics.json``, ``metrics.csv``, ``report.md`` and PNG plots into
``--output`` and prints the aggregate and the real-time factor. Argument parsing and printing over
:func:`vocoder_train.api.evaluate` (scoring and the report: :mod:`vocoder_train.metrics.report`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from vocoder_train.api import evaluate
from vocoder_train.metrics import DEFAULT_METRICS, METRICS
from vocoder_train.metrics.report import RESULT_FILES, EvalResult, better, fmt_value
from vocoder_train.models.store import ENGINES


def print_summary(res: EvalResult, out_dir: Path) -> None:
    agg = res.aggregate()
    width = max(len(n) for n in res.metrics)
    print(f"{len(res.rows)} files evaluated, {len(res.skipped)} skipped ({res.model})")
    for name, d in agg.items():
        print(f"  {name:<{width}}  {fmt_value(d['mean']):>9} +- {fmt_value(d['std']):<9} ({better(name)} is better)")
    print(f"  real-time factor {fmt_value(res.rtf)} ({res.audio_s:.1f} s of audio in {res.synth_s:.2f} s)")
    print(f"results in {out_dir}: {', '.join(RESULT_FILES)}")


def _metric_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    metric_help = "; ".join(f"{k}: {s.description} ({better(k)} is better)" for k, s in METRICS.items())
    p = argparse.ArgumentParser(
        prog="vocoder-evaluate",
        description="Copy-synthesis evaluation: resynthesize reference audio through a vocoder "
        "(audio -> features -> audio) and score it with objective metrics. Writes metrics.json, "
        "metrics.csv (per file), report.md and PNG plots into --output.",
        epilog="examples:\n  vocoder-evaluate runs/demo/checkpoints/last.ckpt --data val.jsonl -o eval/demo\n"
        "  vocoder-evaluate exported/onnx --data wavs/ --output eval/x --metrics pesq,mel_l1 --max-files 50",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="training checkpoint (.ckpt), vocos folder (config.yaml + pytorch_model.bin), "
                   "or vocoder-export folder/file (safetensors, TorchScript, ONNX)")  # fmt: skip
    p.add_argument("--data", required=True, help="JSONL manifest, filelist (one path per line) or folder of audio")
    p.add_argument("-o", "--output", required=True, help="folder for metrics.json, metrics.csv, report.md and plots")
    p.add_argument("--metrics", nargs="+", type=_metric_list, default=None, metavar="NAME",
                   help=f"metrics to compute, space- or comma-separated (default: {' '.join(DEFAULT_METRICS)}). "
                   + metric_help)  # fmt: skip
    p.add_argument("--max-files", type=int, default=None, metavar="N", help="evaluate only the first N files")
    p.add_argument("--device", default="cpu", help="torch device for synthesis, e.g. cpu, cuda, cuda:1 (default cpu)")
    p.add_argument("--plots", type=int, default=3, metavar="N", help="spectrogram plots for the first N files")
    p.add_argument("--save-audio", action="store_true", help="also write the generated audio to OUTPUT/audio/")
    p.add_argument("--ema", action="store_true", help="use the EMA weights of a training checkpoint")
    p.add_argument("--engine", choices=ENGINES, default="fused",
                   help="PyTorch weights only, as in vocoder-synthesize: fused (default), fused-bf16 or eager")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    args = build_parser().parse_args(argv)
    names = (
        tuple(dict.fromkeys(n for group in args.metrics for n in group)) if args.metrics else DEFAULT_METRICS
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)  # one line per skipped file, not just the first
            res = evaluate(
                args.model, args.data, args.output, metrics=names, max_files=args.max_files, device=args.device,
                plots=args.plots, save_audio=args.save_audio, ema=args.ema, engine=args.engine,
                progress=not args.no_progress,
            )  # fmt: skip
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"vocoder-evaluate: error: {e}", file=sys.stderr)
        return 1
    print_summary(res, Path(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())

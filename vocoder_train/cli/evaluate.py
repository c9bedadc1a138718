"""``vocoder-evaluate``: copy-synthesis of reference files through models, scored with objective metrics.

    vocoder-evaluate runs/demo/checkpoints/last.ckpt --data val.jsonl -o eval/demo
    vocoder-evaluate exported/onnx --data corpus/ --output eval/x --metrics pesq mel_l1 --max-files 50
    vocoder-evaluate runs/a/checkpoints/last.ckpt exports/b --data val.jsonl -o eval/ab   # A/B

MODEL is any kind :mod:`vocoder_train.models.store` loads (checkpoint, vocos folder, safetensors,
TorchScript, ONNX). One model: writes ``metrics.json``, ``metrics.csv``, ``report.md``,
``report.html`` and PNG plots into ``--output`` and prints the aggregate and the real-time factor.
Several: one A/B report on the same files (means side by side with bootstrap intervals, per-file
deltas against the first model with their intervals and signed-rank p-values, a Griffin-Lim
baseline from the first model's mel). Argument parsing and printing over
:func:`vocoder_train.api.evaluate` (scoring and the reports: :mod:`vocoder_train.evaluation.report`,
:mod:`vocoder_train.evaluation.compare`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from vocoder_train.api import evaluate
from vocoder_train.cli import listening
from vocoder_train.evaluation.compare import Comparison
from vocoder_train.evaluation.copy_synthesis import EvalResult
from vocoder_train.evaluation.report import RESULT_FILES, better, fmt_value
from vocoder_train.metrics import EVALUATE_METRICS, METRICS
from vocoder_train.metrics.crepe import MODELS as CREPE_MODELS
from vocoder_train.metrics.registry import PROTOCOLS, REFERENCE_PREFIX
from vocoder_train.models.vocoder import ENGINES


def print_summary(res: EvalResult, out_dir: Path) -> None:
    agg = res.aggregate()
    width = max(len(n) for n in res.metrics)
    print(f"{len(res.rows)} files evaluated, {len(res.skipped)} skipped ({res.model})")
    for name in res.metrics:
        d, ref = agg[name], agg.get(REFERENCE_PREFIX + name)
        beside = f", reference {fmt_value(ref['mean'])}" if ref else ""
        beside += f", pooled over frames {fmt_value(d['pooled'])}" if "pooled" in d else ""
        print(
            f"  {name:<{width}}  {fmt_value(d['mean']):>9} +- {fmt_value(d['std']):<9} ({better(name)} is "
            f"better{beside})"
        )
    print(f"  real-time factor {fmt_value(res.rtf)} ({res.audio_s:.1f} s of audio in {res.synth_s:.2f} s)")
    print(f"results in {out_dir}: {', '.join(RESULT_FILES)}")


def print_comparison(res: Comparison, out_dir: Path) -> None:
    agg, speed = res.aggregate(), res.speed()
    width = max(len(n) for n in (*res.metrics, "real-time factor"))
    print(f"{len(res.rows)} files evaluated by every system, {len(res.skipped)} skipped")
    for s in res.systems:
        print(f"  {s.label}: {s.model}")
    print(f"  {'':<{width}}  " + "".join(f"{lab:>12}" for lab in res.labels) + f"{'reference':>12}")
    for n in res.metrics:
        ref = agg["reference"].get(REFERENCE_PREFIX + n)
        cells = "".join(f"{fmt_value(agg[lab][n]['mean']):>12}" for lab in res.labels)
        print(f"  {n:<{width}}  {cells}{fmt_value(ref['mean']) if ref else '-':>12}  ({better(n)} is better)")
        if "pooled" in agg[res.labels[0]][n]:
            cells = "".join(f"{fmt_value(agg[lab][n]['pooled']):>12}" for lab in res.labels)
            print(f"  {'  pooled over frames':<{width}}  {cells}")
    print(
        f"  {'real-time factor':<{width}}  "
        + "".join(f"{fmt_value(speed[lab]['rtf']):>12}" for lab in res.labels)
    )
    print(
        f"results in {out_dir}: {', '.join(RESULT_FILES)}, statistics.csv (deltas against {res.labels[0]} "
        f"per file; {res.bootstrap.percent} bootstrap intervals, {res.bootstrap.resamples} resamples, "
        f"seed {res.bootstrap.seed})"
    )


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
        description="Copy-synthesis evaluation: resynthesize reference audio through a vocoder\n"
        "(audio -> features -> audio) and score it with objective metrics. Writes metrics.json,\n"
        "metrics.csv (per file), report.md, report.html (open it from disk: sortable tables, the worst\n"
        "files with audio players and spectrograms) and PNG plots into --output.\n\n"
        "Two or more models: one A/B report on the same files (means side by side with bootstrap\n"
        "intervals, per-file deltas against the first model with their intervals and Wilcoxon\n"
        "signed-rank p-values, and a Griffin-Lim baseline from the first model's mel).\n\n"
        "A model with inference-time add-ons (phase refinement, mel projection) is also scored as its\n"
        "network alone, beside it, and the Griffin-Lim baseline gets the same mel projection.\n\n"
        "--protocol vocos (default) or bigvgan picks the published metric set. The pitch metrics use\n"
        "CREPE as the papers do (model full: on a CPU ~30 s per 3 s of audio on 2 cores, so tiny, ~15x\n"
        "less, is the CPU default, recorded in the report; --crepe-model full for the papers' figures; on\n"
        "the GPU when there is one); the\n"
        "*_yin variants take milliseconds. DNSMOS needs no reference: the reference's own DNSMOS is\n"
        "reported beside the generated audio's.",
        epilog="examples:\n  vocoder-evaluate runs/demo/checkpoints/last.ckpt --data val.jsonl -o eval/demo\n"
        "  vocoder-evaluate exported/onnx --data wavs/ --output eval/x --metrics pesq,mel_l1 --max-files 50\n"
        "  vocoder-evaluate runs/a/checkpoints/last.ckpt exports/b --data val.jsonl -o eval/ab   # A/B\n"
        + listening.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        nargs="*",
        help="training checkpoint (.ckpt), vocos folder (config.yaml + pytorch_model.bin), "
        "or vocoder-export folder/file (safetensors, TorchScript, ONNX); two or more for an A/B report",
    )
    p.add_argument(
        "--data", default=None, help="JSONL manifest, filelist (one path per line) or folder of audio"
    )
    p.add_argument(
        "-o", "--output", default=None, help="folder for metrics.json, metrics.csv, report.md and plots"
    )
    p.add_argument(
        "--metrics",
        nargs="+",
        type=_metric_list,
        default=None,
        metavar="NAME",
        help="metrics to compute, space- or comma-separated, instead of the --protocol's (vocos: "
        f"{' '.join(EVALUATE_METRICS)}; bigvgan: {' '.join(PROTOCOLS['bigvgan'])}). " + metric_help,
    )
    p.add_argument("--max-files", type=int, default=None, metavar="N", help="evaluate only the first N files")
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device for synthesis, e.g. cpu, cuda, cuda:1 (default cpu); CREPE runs there when it is "
        "a GPU, "
        "else on the GPU when there is one",
    )
    p.add_argument(
        "--plots",
        type=int,
        default=10,
        metavar="N",
        help="show the N worst files by --order-by in full: spectrograms in report.md and report.html, "
        "audio players for the reference and each model in report.html, their audio in OUTPUT/audio/ "
        "(default 10; 0: none)",
    )
    p.add_argument(
        "--order-by",
        default=None,
        metavar="METRIC",
        help="order the files worst first by this metric (of the first model in an A/B report; worst is "
        "the low end where higher is better, else the high end); default: the first of --metrics",
    )
    p.add_argument(
        "--save-audio",
        action="store_true",
        help="also write every file's generated audio to OUTPUT/audio/ (A/B: OUTPUT/audio/LABEL/)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        metavar="N",
        help="A/B: bootstrap resamples for the 95%% intervals of the means and of the deltas (default 2000, "
        "at least 100)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="A/B: seed of the bootstrap resampling, recorded in the report (default 0): the same seed "
        "and files give the same intervals",
    )
    p.add_argument("--ema", action="store_true", help="use the EMA weights of a training checkpoint")
    p.add_argument(
        "--bandwidth",
        type=float,
        default=None,
        metavar="KBPS",
        help="codec models: the bandwidth they encode and decode at (EnCodec: 1.5, 3, 6 or 12; a "
        "transformers codec: its codebook counts' kbps, e.g. Mimi 1.1; default: their highest); the A/B "
        "baseline row is the codec's own decoder at it",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="PyTorch weights only, as in vocoder-synthesize: auto (default), fused, fused-bf16 or eager",
    )
    p.add_argument(
        "--crepe-model",
        choices=CREPE_MODELS,
        default=None,
        help="CREPE capacity for the pitch metrics of either protocol: full (the papers') or tiny (~15x "
        "faster on a CPU, not comparable with published figures); default full where CREPE runs on a GPU, "
        "tiny on a CPU (the report says which)",
    )
    p.add_argument(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default="vocos",
        help="which published metric set to compute (--metrics replaces it): vocos (default; the Vocos "
        "paper's, with DNSMOS) or bigvgan (sony/bigvsan_eval's, as in the BigVGAN and BigVSAN papers: "
        "M-STFT, PESQ, MCD, periodicity, V/UV F1; 24 kHz models only). docs/guide-inference.md defines both",
    )
    p.add_argument(
        "--no-griffin-lim",
        action="store_true",
        help="A/B: leave out the Griffin-Lim baseline (a codec model's: its codec's decoder)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    listening.add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    parser = build_parser()
    args = parser.parse_args(argv)
    listening.check(parser, args)
    if args.listening_results is not None:
        return listening.score_answers(args)
    names = (
        tuple(dict.fromkeys(n for group in args.metrics for n in group))
        if args.metrics
        else PROTOCOLS[args.protocol]
    )
    if args.order_by is not None and args.order_by not in names:
        parser.error(f"--order-by {args.order_by}: not among the metrics evaluated ({', '.join(names)})")
    if args.bootstrap < 100:
        parser.error(f"--bootstrap {args.bootstrap}: needs at least 100 resamples")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)  # one line per skipped file, not just the first
            res = evaluate(
                args.model if len(args.model) > 1 else args.model[0],
                args.data,
                args.output,
                metrics=names,
                max_files=args.max_files,
                device=args.device,
                plots=args.plots,
                save_audio=args.save_audio or args.listening is not None,
                ema=args.ema,
                engine=args.engine,
                progress=not args.no_progress,
                crepe_model=args.crepe_model,
                griffin_lim=not args.no_griffin_lim,
                order_by=args.order_by,
                seed=args.seed,
                bootstrap=args.bootstrap,
                protocol=args.protocol,
                bandwidth=args.bandwidth,
            )
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"vocoder-evaluate: error: {e}", file=sys.stderr)
        return 1
    if isinstance(res, Comparison):
        print_comparison(res, Path(args.output))
    else:
        print_summary(res, Path(args.output))
    return listening.write_test(res, args) if args.listening else 0


if __name__ == "__main__":
    sys.exit(main())

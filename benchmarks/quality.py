"""Time to quality: train a recipe for a wall-clock budget, then score held-out copy synthesis.

    python -m benchmarks.quality --budget 600                 # the default recipe (cpu_budget)
    python -m benchmarks.quality --budget 120 300 600         # one run per budget, one table
    python -m benchmarks.quality --budget 120 --experiment demo --seed 1
    make bench-quality ARGS="--budget 300"

Steps: ``vocoder-prepare`` on the corpus with its held-out list; ``vocoder-train`` with
``trainer.max_time`` set to the budget (validation time counts against it, as it would for a
user); whole-file copy synthesis of the held-out files with the last checkpoint, scored with
mel L1, multi-resolution STFT distance, PESQ-wb and STOI; the same checkpoint with its
inference-time steps off (phase refinement, mel projection: "network only", which ``vocoder-evaluate``
reports beside such a model); Griffin-Lim (32
iterations, no training) on the same mels, alone and followed by the same mel projection. Every
row is measured in the same run. Prints a table and writes ``quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio

from benchmarks.harness import BIN, ROOT, machine_line, run_logged

METRICS = ("mel_l1", "mrstft", "pesq", "stoi")


def _budget(seconds: int) -> str:
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{d:02d}:{h:02d}:{m:02d}:{s:02d}"


def griffin_lim_scores(
    val_manifest: Path,
    sample_rate: int,
    n_fft: int = 1024,
    hop: int = 256,
    n_mels: int = 100,
    n_iter: int = 32,
    mel_passes: int = 0,
) -> tuple[dict[str, list[float]], dict[str, list[float]] | None]:
    """Griffin-Lim from the model's own mel (magnitude, power 1):
    :func:`vocoder_train.evaluation.baselines.griffin_lim_from_mel` (filterbank pseudo-inverse, random
    phase, ``n_iter`` fast Griffin-Lim iterations on the mel's centred frames). Scores per file of
    that, and (``mel_passes`` > 0, else None) of the same output after the generator's mel
    projection toward the same mel."""
    from vocoder_train.data.manifest import read_manifest
    from vocoder_train.dsp import mel_projection, safe_log
    from vocoder_train.evaluation.baselines import griffin_lim_from_mel, mel_front_end
    from vocoder_train.io.audio import load_audio
    from vocoder_train.metrics import compute_metrics

    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=1
    )
    front = mel_front_end(mel)
    scores: dict[str, list[float]] = {m: [] for m in METRICS}
    projected: dict[str, list[float]] | None = {m: [] for m in METRICS} if mel_passes else None
    generator = torch.Generator().manual_seed(0)
    for item in read_manifest(val_manifest):
        audio, _ = load_audio(item["path"], sample_rate)
        target = mel(audio)
        out = griffin_lim_from_mel(target, front, n_iter, generator)[..., : audio.shape[-1]]
        outs = [(scores, out)]
        if projected is not None:
            outs.append((projected, mel_projection(out, safe_log(target), mel, mel_passes)))
        for table, y in outs:
            for k, v in compute_metrics(audio[0], y[0], sample_rate, METRICS).items():
                table[k].append(v)
    return scores, projected


def _mel_passes(ckpt: dict) -> int:
    gen = ckpt.get("vocoder_train", {}).get("config", {}).get("model", {}).get("generator", {})
    return int(gen.get("mel_passes", 0) or 0)


def _means(result, label: str) -> dict[str, float]:
    """Per metric, the mean over files of system ``label`` of an evaluation (one model: its only one)."""
    rows = [r["systems"][label] for r in result.rows] if "systems" in result.rows[0] else result.rows
    return {m: float(np.nanmean([r[m] for r in rows])) for m in METRICS}


def train_and_score(args, budget: int, out: Path, data: Path) -> dict:
    """Trains ``args.experiment`` for ``budget`` seconds, scores the held-out copy synthesis."""
    run_name = f"{args.experiment}_{budget}s_seed{args.seed}"
    run = out / run_name
    print(f"training {run_name} ({budget} s) ...", flush=True)
    t0 = time.perf_counter()
    run_logged(
        [
            str(BIN / "vocoder-train"),
            f"experiment={args.experiment}",
            f"run_name={run_name}",
            f"paths.runs_dir={out}",
            f"data.train={data}/train.jsonl",
            f"data.val={data}/val.jsonl",
            f"seed={args.seed}",
            f"trainer.max_time={_budget(budget)}",
            "resume=never",
            "trainer.enable_progress_bar=false",
            *args.overrides,
        ],
        run.with_suffix(".train.log"),
    )
    train_s = time.perf_counter() - t0
    from vocoder_train.io.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run / "checkpoints" / "last.ckpt")
    iterations = int(ckpt["lr_schedulers"][0]["last_epoch"])
    audio_cfg = ckpt.get("vocoder_train", {}).get("config", {}).get("audio", {})
    mel = {k: int(audio_cfg[k]) for k in ("n_fft", "hop_length", "n_mels") if k in audio_cfg}

    from vocoder_train.api import evaluate

    # a model with inference-time steps (phase refinement, mel projection) is scored beside its network
    # alone (label A_network), by vocoder_train.evaluation.baselines.network_only
    result = evaluate(
        run / "checkpoints" / "last.ckpt",
        data / "val.jsonl",
        run / "eval",
        metrics=METRICS,
        plots=2,
        progress=False,
        griffin_lim=False,
    )
    scores = _means(result, "A")
    results = {"ours": scores}
    if "A_network" in getattr(result, "labels", ()):
        results["network_only"] = _means(result, "A_network")
    summary = {
        "budget_s": budget,
        "train_wall_s": round(train_s, 1),
        "iterations": iterations,
        "global_step": int(ckpt["global_step"]),
        "experiment": args.experiment,
        "seed": args.seed,
        "overrides": list(args.overrides),
        "heldout_files": len(result.rows),
        "threads": torch.get_num_threads(),
        "cpu": os.cpu_count(),
        "sample_rate": getattr(result, "sample_rate", None) or result.systems[0].sample_rate,
        "mel": mel,
        "mel_passes": _mel_passes(ckpt),
        "results": results,
        "eval_report": str(run / "eval" / "report.md"),
    }
    (run / "quality.json").write_text(json.dumps(summary, indent=2))
    print(
        f"  {iterations} iterations ({summary['global_step']} optimizer steps) in {train_s:.0f} s wall: "
        + ", ".join(f"{m} {v:.3f}" for m, v in scores.items()),
        flush=True,
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--budget",
        type=int,
        nargs="+",
        default=[600],
        help="training wall-clock seconds; several budgets train one run each (default 600)",
    )
    p.add_argument("--experiment", default="cpu_budget", help="Hydra experiment (default cpu_budget)")
    p.add_argument("--corpus", type=Path, default=ROOT / "recipes/demo/corpus")
    p.add_argument("--heldout", type=Path, default=None, help="held-out list (default: <corpus>/heldout.txt)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--output", type=Path, default=ROOT / "runs/quality")
    p.add_argument("--no-griffin-lim", action="store_true")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for the training run")
    args = p.parse_args(argv)
    if any(b <= 0 for b in args.budget):
        p.error(f"--budget: seconds must be > 0, got {args.budget}")
    heldout = args.heldout or args.corpus / "heldout.txt"
    if not heldout.is_file():
        p.error(f"--heldout: {heldout} does not exist (a list of held-out file names, one per line)")
    out = args.output.resolve()
    data = out / "data"
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"corpus {args.corpus} (held out: {heldout}); budgets {args.budget} s; experiment {args.experiment}"
    )

    run_logged(
        [
            str(BIN / "vocoder-prepare"),
            str(args.corpus),
            "--output",
            str(data),
            "--val-list",
            str(heldout),
            "--no-progress",
        ],
        out / "prepare.log",
    )
    runs = [train_and_score(args, b, out, data) for b in args.budget]
    gl = gl_proj = None
    if not args.no_griffin_lim:
        passes = max(r["mel_passes"] for r in runs)
        print(
            "Griffin-Lim (32 iterations) on the same mels"
            + (f", and + the mel projection ({passes} passes)" if passes else "")
            + " ...",
            flush=True,
        )
        mel = runs[0]["mel"]
        gl_rows, proj_rows = griffin_lim_scores(
            data / "val.jsonl",
            runs[0]["sample_rate"],
            mel.get("n_fft", 1024),
            mel.get("hop_length", 256),
            mel.get("n_mels", 100),
            mel_passes=passes,
        )
        gl = {metric: float(np.nanmean(v)) for metric, v in gl_rows.items()}
        if proj_rows is not None:
            gl_proj = {metric: float(np.nanmean(v)) for metric, v in proj_rows.items()}
    table = {
        "corpus": str(args.corpus),
        "heldout_files": runs[0]["heldout_files"],
        "runs": runs,
        "griffin_lim_32": gl,
        "griffin_lim_32_mel_projection": gl_proj,
    }
    (out / "quality.json").write_text(json.dumps(table, indent=2))
    print(f"\n{machine_line(runs[0]['threads'])}")
    print(
        f"{runs[0]['heldout_files']} held-out files, whole-file copy synthesis; "
        f"{runs[0]['threads']} threads on {runs[0]['cpu']} CPUs\n"
    )
    print("| system | iterations | mel L1 (lower) | MR-STFT (lower) | PESQ-wb (higher) | STOI (higher) |")
    print("|---|---|---|---|---|---|")

    def row(name: str, iterations, v: dict) -> None:
        print(
            f"| {name} | {iterations} | {v['mel_l1']:.3f} | {v['mrstft']:.3f} | {v['pesq']:.2f} | "
            f"{v['stoi']:.3f} |"
        )

    for r in runs:
        row(f"{r['experiment']}, {r['budget_s']} s", r["iterations"], r["results"]["ours"])
    for r in runs:
        if "network_only" in r["results"]:
            row(
                f"{r['experiment']}, {r['budget_s']} s, network only (no refinement / projection)",
                r["iterations"],
                r["results"]["network_only"],
            )
    if gl is not None:
        row("Griffin-Lim, 32 iterations", "-", gl)
    if gl_proj is not None:
        row(f"Griffin-Lim, 32 iterations + mel projection ({passes} passes)", "-", gl_proj)
    print(f"\nwritten: {out / 'quality.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

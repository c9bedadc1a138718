"""``vocoder-evaluate``: copy-synthesis of reference files through a model, scored with objective metrics.

    vocoder-evaluate runs/demo/checkpoints/last.ckpt --data val.jsonl --output eval/demo
    vocoder-evaluate exported/vocos-folder --data corpus/ --output eval/x --metrics pesq mel_l1 --max-files 50

For each reference file: audio -> features -> audio with the generator, then the metrics of
:mod:`vocoder_train.metrics` on (reference, generated). Writes ``metrics.json`` (aggregate and
per file), ``metrics.csv`` (per file), ``report.md`` and PNG plots into ``--output``, and prints
the aggregate and the real-time factor. Files that cannot be read are skipped with a warning.
:func:`evaluate` is the testable core; :func:`main` only parses arguments.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vocoder_train.metrics import DEFAULT_METRICS, HIGHER_IS_BETTER, METRICS, compute_metrics


@dataclass
class EvalResult:
    """What :func:`evaluate` measured. ``rows``: one dict per scored file (path, duration_s, synth_s, metrics)."""

    model: str
    data: str
    sample_rate: int
    device: str
    metrics: tuple[str, ...]
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)

    @property
    def audio_s(self) -> float:
        return float(sum(r["duration_s"] for r in self.rows))

    @property
    def synth_s(self) -> float:
        return float(sum(r["synth_s"] for r in self.rows))

    @property
    def rtf(self) -> float:
        """Real-time factor: synthesis time / audio duration (below 1 is faster than real time)."""
        return self.synth_s / self.audio_s if self.audio_s > 0 else float("nan")

    def aggregate(self) -> dict[str, dict[str, float]]:
        """Per metric: mean, std, min, max over files with a finite value; n (those files), n_nan."""
        out = {}
        for name in self.metrics:
            vals = np.array([r[name] for r in self.rows], dtype=np.float64)
            ok = vals[np.isfinite(vals)]
            stats = (ok.mean(), ok.std(), ok.min(), ok.max()) if ok.size else (math.nan,) * 4
            out[name] = dict(zip(("mean", "std", "min", "max"), map(float, stats)))
            out[name].update(n=int(ok.size), n_nan=int(vals.size - ok.size))
        return out


# -- model -------------------------------------------------------------------------------------------


def load_model(path: str | Path, device: str, ema: bool = False) -> tuple[torch.nn.Module, int]:
    """(generator in eval mode on ``device``, sample_rate) from a ``.ckpt`` or a vocos folder."""
    from vocoder_train.models.generator import load_generator

    model, sample_rate = load_generator(path, map_location=device, ema=ema)
    return model.to(device).eval(), int(sample_rate)


@torch.inference_mode()
def copy_synthesis(model: torch.nn.Module, audio: torch.Tensor) -> torch.Tensor:
    """audio (B, T) -> features -> audio (B, T) (trimmed or zero-padded to T)."""
    if hasattr(model, "synthesize"):  # VocosGenerator: includes its eval-mode mel projection
        out = model.synthesize(model.features(audio))
    else:
        out = model.head(model.backbone(model.feature_extractor(audio)))
    n = audio.shape[-1]
    return out[..., :n] if out.shape[-1] >= n else torch.nn.functional.pad(out, (0, n - out.shape[-1]))


def _synthesize_timed(model: torch.nn.Module, audio: torch.Tensor) -> tuple[torch.Tensor, float]:
    sync = torch.cuda.synchronize if audio.device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = copy_synthesis(model, audio)
    sync()
    return out, time.perf_counter() - t0


# -- the loop ----------------------------------------------------------------------------------------


def _score_file(model, path: str, sample_rate: int, device: str, names: tuple[str, ...]):
    """(reference (T,), generated (T,), row) for one file; raises AudioReadError/ValueError if unusable."""
    from vocoder_train.io.audio import load_audio

    audio, _ = load_audio(path, sample_rate=sample_rate)
    if audio.shape[-1] < sample_rate // 10:
        raise ValueError(f"shorter than 0.1 s ({audio.shape[-1]} samples at {sample_rate} Hz)")
    if not torch.isfinite(audio).all():
        raise ValueError("contains NaN or inf samples")
    gen, seconds = _synthesize_timed(model, audio.to(device))
    ref, gen = audio[0].cpu(), gen[0].float().cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a NaN metric is reported per file instead
        values = compute_metrics(ref, gen, sample_rate, names)
    row = {"path": str(path), "duration_s": audio.shape[-1] / sample_rate, "synth_s": seconds, **values}
    return ref, gen, row


def evaluate(
    model_path: str | Path,
    data: str | Path,
    output: str | Path,
    metrics: Sequence[str] = DEFAULT_METRICS,
    max_files: int | None = None,
    device: str = "cpu",
    plots: int = 3,
    save_audio: bool = False,
    ema: bool = False,
    progress: bool = True,
) -> EvalResult:
    """Copy-synthesis evaluation of ``model_path`` on ``data``; writes the result files into ``output``."""
    from tqdm import tqdm

    from vocoder_train.data.manifest import read_manifest
    from vocoder_train.io.audio import AudioReadError
    from vocoder_train.io.audio import save_audio as write_audio

    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, sr = load_model(model_path, device, ema=ema)
    copy_synthesis(
        model, torch.zeros(1, sr // 2, device=device)
    )  # warm-up, so the RTF excludes first-call setup
    items = read_manifest(data)[: max_files or None]
    res = EvalResult(str(model_path), str(data), sr, device, tuple(metrics))
    for item in tqdm(items, desc="evaluating", unit="file", disable=not progress):
        path = item["path"]
        try:
            ref, gen, row = _score_file(model, path, sr, device, res.metrics)
        except (AudioReadError, ValueError, RuntimeError) as e:
            warnings.warn(f"vocoder-evaluate: skipping {path}: {e}", stacklevel=2)
            res.skipped.append({"path": str(path), "reason": str(e)})
            continue
        res.rows.append(row)
        if save_audio:
            write_audio(out_dir / "audio" / f"{len(res.rows) - 1:04d}_{Path(path).stem}.wav", gen, sr)
        if len(res.rows) <= plots:
            res.plots.append(plot_spectrograms(ref, gen, sr, out_dir, len(res.rows) - 1, Path(path).name))
    if not res.rows:
        raise RuntimeError(f"vocoder-evaluate: none of the {len(items)} files in {data} could be evaluated")
    res.plots.insert(0, plot_histograms(res, out_dir))
    write_outputs(res, out_dir)
    return res


# -- plots -------------------------------------------------------------------------------------------


def _db_spectrogram(x: torch.Tensor, n_fft: int, hop: int) -> np.ndarray:
    spec = torch.stft(
        x, n_fft, hop_length=hop, window=torch.hann_window(n_fft), center=True, return_complex=True
    )
    return (20 * torch.log10(spec.abs().clamp(min=1e-5))).numpy()


def plot_spectrograms(
    ref: torch.Tensor, gen: torch.Tensor, sr: int, out_dir: Path, index: int, title: str
) -> str:
    """Reference, generated and their dB difference, one above the other; returns the PNG's file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_fft = 1 << max(8, int(round(math.log2(sr * 0.046))))  # ~46 ms windows at any rate
    r, g = _db_spectrogram(ref, n_fft, n_fft // 4), _db_spectrogram(gen, n_fft, n_fft // 4)
    extent = (0.0, ref.shape[-1] / sr, 0.0, sr / 2000)
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    panels = (("reference", r, "magma", (-100, r.max())), ("generated", g, "magma", (-100, r.max())),
              ("generated - reference (dB)", g - r, "coolwarm", (-30, 30)))  # fmt: skip
    for ax, (name, img, cmap, (lo, hi)) in zip(axes, panels):
        im = ax.imshow(img, origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi, extent=extent)
        ax.set_title(name)
        ax.set_ylabel("kHz")
        fig.colorbar(im, ax=ax, pad=0.01)
    axes[-1].set_xlabel("seconds")
    fig.suptitle(title)
    fig.tight_layout()
    name = f"spectrogram_{index:03d}.png"
    fig.savefig(out_dir / name, dpi=80)
    plt.close(fig)
    return name


def plot_histograms(res: EvalResult, out_dir: Path) -> str:
    """One histogram per metric over the files; returns the PNG's file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(res.metrics)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.5 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, res.metrics):
        vals = np.array([r[name] for r in res.rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        if vals.size:
            ax.hist(vals, bins=min(20, max(5, vals.size)))
        ax.set_title(f"{name} ({'higher' if HIGHER_IS_BETTER[name] else 'lower'} is better)", fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_dir / "histograms.png", dpi=80)
    plt.close(fig)
    return "histograms.png"


# -- outputs -----------------------------------------------------------------------------------------


def _finite_or_none(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None  # strict JSON has no NaN


def write_outputs(res: EvalResult, out_dir: Path) -> None:
    """metrics.json, metrics.csv and report.md."""
    agg = res.aggregate()
    doc = {
        "model": res.model, "data": res.data, "sample_rate": res.sample_rate, "device": res.device,
        "metrics": list(res.metrics),
        "higher_is_better": {k: HIGHER_IS_BETTER[k] for k in res.metrics},
        "aggregate": {k: {s: _finite_or_none(v) for s, v in d.items()} for k, d in agg.items()},
        "speed": {"audio_s": res.audio_s, "synth_s": res.synth_s, "rtf": res.rtf},
        "num_files": len(res.rows), "num_skipped": len(res.skipped),
        "files": [{k: _finite_or_none(v) for k, v in r.items()} for r in res.rows],
        "skipped": res.skipped, "plots": res.plots,
    }  # fmt: skip
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    with open(out_dir / "metrics.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["path", "duration_s", "synth_s", *res.metrics])
        w.writeheader()
        w.writerows(res.rows)
    (out_dir / "report.md").write_text(render_report(res, agg), encoding="utf-8")


def _fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.4g}"


def render_report(res: EvalResult, agg: dict[str, dict[str, float]]) -> str:
    lines = [
        "# vocoder-evaluate report", "",
        f"- model: `{res.model}`", f"- data: `{res.data}`",
        f"- sample rate: {res.sample_rate} Hz, device: {res.device}",
        f"- files evaluated: {len(res.rows)}, skipped: {len(res.skipped)}", "",
        "## Aggregate", "",
        "| metric | better | mean | std | min | max | n | NaN |", "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, d in agg.items():
        better = "higher" if HIGHER_IS_BETTER[name] else "lower"
        stats = " | ".join(_fmt(d[s]) for s in ("mean", "std", "min", "max"))
        lines.append(f"| {name} | {better} | {stats} | {d['n']} | {d['n_nan']} |")
    lines += [
        "", "## Speed", "",
        f"{res.audio_s:.2f} s of audio synthesized in {res.synth_s:.3f} s: real-time factor {_fmt(res.rtf)} "
        f"({_fmt(1 / res.rtf if res.rtf > 0 else math.nan)}x faster than real time; copy synthesis, batch 1, "
        f"{res.device}, after one warm-up call; metrics not included).", "",
        "## Plots", "", *[f"![{p}]({p})" for p in res.plots], "",
        "## Per file", "",
        "| file | seconds | " + " | ".join(res.metrics) + " |", "|---" * (2 + len(res.metrics)) + "|",
    ]  # fmt: skip
    for r in res.rows:
        vals = " | ".join(_fmt(r[m]) for m in res.metrics)
        lines.append(f"| `{Path(r['path']).name}` | {r['duration_s']:.2f} | {vals} |")
    if res.skipped:
        lines += ["", f"## Skipped files ({len(res.skipped)})", ""]
        lines += [f"- `{s['path']}`: {s['reason']}" for s in res.skipped]
    return "\n".join(lines) + "\n"


def print_summary(res: EvalResult, out_dir: Path) -> None:
    agg = res.aggregate()
    width = max(len(n) for n in res.metrics)
    print(f"{len(res.rows)} files evaluated, {len(res.skipped)} skipped ({res.model})")
    for name, d in agg.items():
        arrow = "higher" if HIGHER_IS_BETTER[name] else "lower"
        print(f"  {name:<{width}}  {_fmt(d['mean']):>9} +- {_fmt(d['std']):<9} ({arrow} is better)")
    print(f"  real-time factor {_fmt(res.rtf)} ({res.audio_s:.1f} s of audio in {res.synth_s:.2f} s)")
    print(f"results in {out_dir}: metrics.json, metrics.csv, report.md")


# -- command line ------------------------------------------------------------------------------------


def _metric_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    metric_help = "; ".join(f"{k}: {s.description} ({'higher' if s.higher_is_better else 'lower'} is better)"
                            for k, s in METRICS.items())  # fmt: skip
    p = argparse.ArgumentParser(
        prog="vocoder-evaluate",
        description="Copy-synthesis evaluation: resynthesize reference audio through a vocoder "
        "(audio -> features -> audio) and score it with objective metrics. Writes metrics.json, "
        "metrics.csv (per file), report.md and PNG plots into --output.",
        epilog="examples:\n  vocoder-evaluate runs/demo/checkpoints/last.ckpt --data val.jsonl --output eval/demo\n"
        "  vocoder-evaluate exported/ --data wavs/ --output eval/x --metrics pesq,mel_l1 --max-files 50",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model", help="training checkpoint (.ckpt) or a vocos folder (config.yaml + pytorch_model.bin)"
    )
    p.add_argument(
        "--data", required=True, help="JSONL manifest, filelist (one path per line) or folder of audio"
    )
    p.add_argument(
        "--output", required=True, help="folder for metrics.json, metrics.csv, report.md and plots"
    )
    p.add_argument("--metrics", nargs="+", type=_metric_list, default=None, metavar="NAME",
                   help=f"metrics to compute, space- or comma-separated (default: {' '.join(DEFAULT_METRICS)}). "
                   + metric_help)  # fmt: skip
    p.add_argument("--max-files", type=int, default=None, metavar="N", help="evaluate only the first N files")
    p.add_argument(
        "--device", default="cpu", help="torch device for synthesis, e.g. cpu, cuda, cuda:1 (default cpu)"
    )
    p.add_argument(
        "--plots", type=int, default=3, metavar="N", help="spectrogram plots for the first N files"
    )
    p.add_argument(
        "--save-audio", action="store_true", help="also write the generated audio to OUTPUT/audio/"
    )
    p.add_argument("--ema", action="store_true", help="use the EMA generator weights of a .ckpt")
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
                plots=args.plots, save_audio=args.save_audio, ema=args.ema, progress=not args.no_progress,
            )  # fmt: skip
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"vocoder-evaluate: error: {e}", file=sys.stderr)
        return 1
    print_summary(res, Path(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())

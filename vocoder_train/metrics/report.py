"""Copy-synthesis evaluation: score reference files through a vocoder, aggregate, write the report.

For each reference file: audio -> features -> audio with the vocoder (any object with a
``sample_rate`` and a ``copy_synthesis(audio (1, T)) -> (1, T)``, e.g.
:class:`vocoder_train.models.store.Vocoder`), then the metrics of :mod:`vocoder_train.metrics` on
(reference, generated). Metrics that need no reference (DNSMOS) are also scored on the reference,
as ``ref_<name>`` columns beside the generated audio's. :func:`evaluate_files` writes
``metrics.json`` (aggregate and per file), ``metrics.csv`` (per file), ``report.md`` and PNG plots.
Files that cannot be read are skipped with a warning. Several models on the same files:
:mod:`vocoder_train.metrics.compare`.
"""

from __future__ import annotations

import csv
import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vocoder_train.metrics.registry import (
    EVALUATE_METRICS,
    REFERENCE_PREFIX,
    MetricOptions,
    compute_metrics,
    higher_is_better,
    reference_columns,
    reference_scores,
)

RESULT_FILES = ("metrics.json", "metrics.csv", "report.md")


class Resynthesizer(Protocol):
    """What :func:`evaluate_files` needs of a model."""

    sample_rate: int

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor: ...


@dataclass
class EvalResult:
    """What :func:`evaluate_files` measured. ``rows``: one dict per scored file (path, duration_s,
    synth_s, metrics, and the reference's own scores in the ``reference`` columns)."""

    model: str
    data: str
    sample_rate: int
    device: str
    metrics: tuple[str, ...]
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    reference: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The metrics, then the reference's own scores (``ref_<name>``)."""
        return self.metrics + self.reference

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
        """Per column: mean, std, min, max over files with a finite value; n (those files), n_nan."""
        return {name: summarize([r[name] for r in self.rows]) for name in self.columns}


def summarize(values: Sequence[float]) -> dict[str, float]:
    """mean, std, min, max of the finite ``values``; n (how many), n_nan (how many were not)."""
    vals = np.array(values, dtype=np.float64)
    ok = vals[np.isfinite(vals)]
    stats = (ok.mean(), ok.std(), ok.min(), ok.max()) if ok.size else (math.nan,) * 4
    return {
        **dict(zip(("mean", "std", "min", "max"), map(float, stats))),
        "n": int(ok.size),
        "n_nan": int(vals.size - ok.size),
    }


# -- the loop ----------------------------------------------------------------------------------------


def load_reference(path: str, sample_rate: int) -> torch.Tensor:
    """The file as mono (1, T) at ``sample_rate``; raises AudioReadError/ValueError if unusable."""
    from vocoder_train.io.audio import load_audio

    audio, _ = load_audio(path, sample_rate=sample_rate)
    if audio.shape[-1] < sample_rate // 10:
        raise ValueError(f"shorter than 0.1 s ({audio.shape[-1]} samples at {sample_rate} Hz)")
    if not torch.isfinite(audio).all():
        raise ValueError("contains NaN or inf samples")
    return audio


def resynthesize(model: Resynthesizer, audio: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(generated (T,) float32 CPU, seconds) for reference ``audio`` (1, T)."""
    t0 = time.perf_counter()
    gen = model.copy_synthesis(audio)  # CPU tensors in and out: the time includes any device sync
    return gen[0].float().cpu(), time.perf_counter() - t0


def score(
    ref: torch.Tensor,
    gen: torch.Tensor,
    sample_rate: int,
    names: Sequence[str],
    options: MetricOptions | None = None,
) -> dict[str, float]:
    """``compute_metrics`` with per-metric warnings silenced: a NaN is reported per file instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return compute_metrics(ref, gen, sample_rate, tuple(names), options)


def score_reference(
    ref: torch.Tensor, sample_rate: int, names: Sequence[str], options: MetricOptions | None = None
) -> dict[str, float]:
    """The reference's own scores of the metrics among ``names`` that need no reference (``ref_<name>``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return reference_scores(ref, sample_rate, tuple(names), options)


def score_file(
    model: Resynthesizer, path: str, names: Sequence[str], options: MetricOptions | None = None
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(reference (T,), generated (T,), row) for one file; raises AudioReadError/ValueError if unusable."""
    sr = model.sample_rate
    audio = load_reference(path, sr)
    gen, seconds = resynthesize(model, audio)
    ref = audio[0].cpu()
    values = {**score(ref, gen, sr, names, options), **score_reference(ref, sr, names, options)}
    return ref, gen, {"path": str(path), "duration_s": audio.shape[-1] / sr, "synth_s": seconds, **values}


def scored_files(paths: Sequence[str], score_one, skipped: list[dict], desc: str, progress: bool):
    """Yields ``(path, score_one(path))`` for each file that can be scored, with a progress bar; a file
    that cannot (unreadable, wrong shape, a model error) is warned about and recorded in ``skipped``
    with its reason, so one bad file never stops an evaluation."""
    from tqdm import tqdm

    from vocoder_train.io.audio import AudioReadError

    for path in tqdm(paths, desc=desc, unit="file", disable=not progress):
        try:
            out = score_one(path)
        except (AudioReadError, ValueError, RuntimeError) as e:
            warnings.warn(f"vocoder-evaluate: skipping {path}: {e}", stacklevel=2)
            skipped.append({"path": str(path), "reason": str(e)})
            continue
        yield path, out


@dataclass
class EvalSettings:
    """What an evaluation computes and writes, shared by :func:`evaluate_files` and
    :func:`vocoder_train.metrics.compare.compare_files`.

    ``plots``: spectrogram comparisons for the first files; ``save_audio``: keep the generated
    audio; ``labels``: ``model``, ``data`` and ``device`` as the report names them; ``options``: the
    CREPE model and device (:class:`~vocoder_train.metrics.registry.MetricOptions`)."""

    metrics: Sequence[str] = EVALUATE_METRICS
    plots: int = 3
    save_audio: bool = False
    progress: bool = True
    labels: dict[str, str] | None = None
    options: MetricOptions | None = None


def evaluate_files(
    model: Resynthesizer,
    paths: Sequence[str],
    output: str | Path,
    settings: EvalSettings | None = None,
) -> EvalResult:
    """Scores ``paths`` through ``model`` and writes the result files into ``output``.

    ``settings``: metrics, plots, labels and metric options (:class:`EvalSettings`)."""
    s = settings or EvalSettings()
    metrics, plots, save_audio, progress, labels, options = (
        s.metrics,
        s.plots,
        s.save_audio,
        s.progress,
        s.labels,
        s.options,
    )

    from vocoder_train.io.audio import save_audio as write_audio

    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = {"model": "", "data": "", "device": "cpu", **(labels or {})}
    sr = model.sample_rate
    model.copy_synthesis(torch.zeros(1, sr // 2))  # warm-up, so the RTF excludes first-call setup
    res = EvalResult(
        labels["model"],
        labels["data"],
        sr,
        labels["device"],
        tuple(metrics),
        reference=reference_columns(metrics),
    )

    def score_one(path: str):
        return score_file(model, path, res.metrics, options)

    for path, (ref, gen, row) in scored_files(paths, score_one, res.skipped, "evaluating", progress):
        res.rows.append(row)
        index = len(res.rows) - 1
        if save_audio:
            write_audio(out_dir / "audio" / f"{index:04d}_{Path(path).stem}.wav", gen, sr)
        if index < plots:
            res.plots.append(plot_spectrograms(ref, gen, sr, out_dir, index, Path(path).name))
    if not res.rows:
        raise RuntimeError(
            f"vocoder-evaluate: none of the {len(paths)} files in {res.data} could be evaluated"
        )
    res.plots.insert(0, plot_histograms(res, out_dir))
    write_outputs(res, out_dir)
    return res


# -- plots -------------------------------------------------------------------------------------------


def db_spectrogram(x: torch.Tensor, n_fft: int, hop: int) -> np.ndarray:
    spec = torch.stft(
        x, n_fft, hop_length=hop, window=torch.hann_window(n_fft), center=True, return_complex=True
    )
    return (20 * torch.log10(spec.abs().clamp(min=1e-5))).numpy()


def plot_window(sr: int) -> int:
    """FFT size of ~46 ms at any rate (a power of two >= 256) for the spectrogram plots."""
    return 1 << max(8, int(round(math.log2(sr * 0.046))))


def save_panels(
    panels: Sequence[tuple[str, np.ndarray, str, tuple[float, float], tuple]], title: str, path: Path
) -> None:
    """Spectrogram images ``(name, dB image, colormap, (vmin, vmax), extent)`` one above the other, as a PNG
    (extent: seconds and kHz, ``(0, duration, 0, sr / 2000)``)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(10, 2.6 * len(panels)))
    axes = fig.subplots(len(panels), 1, sharex=True)
    for ax, (name, img, cmap, (lo, hi), extent) in zip(axes, panels):
        im = ax.imshow(img, origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi, extent=extent)
        ax.set_title(name)
        ax.set_ylabel("kHz")
        fig.colorbar(im, ax=ax, pad=0.01)
    axes[-1].set_xlabel("seconds")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def plot_spectrograms(
    ref: torch.Tensor, gen: torch.Tensor, sr: int, out_dir: Path, index: int, title: str
) -> str:
    """Reference, generated and their dB difference, one above the other; returns the PNG's file name."""
    n_fft = plot_window(sr)
    r, g = db_spectrogram(ref, n_fft, n_fft // 4), db_spectrogram(gen, n_fft, n_fft // 4)
    extent = (0.0, ref.shape[-1] / sr, 0.0, sr / 2000)
    panels = [
        ("reference", r, "magma", (-100, r.max()), extent),
        ("generated", g, "magma", (-100, r.max()), extent),
        ("generated - reference (dB)", g - r, "coolwarm", (-30, 30), extent),
    ]
    name = f"spectrogram_{index:03d}.png"
    save_panels(panels, title, out_dir / name)
    return name


def plot_histograms(res: EvalResult, out_dir: Path) -> str:
    """One histogram per metric over the files; returns the PNG's file name."""
    from matplotlib.figure import Figure

    n = len(res.metrics)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.5 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, res.metrics):
        vals = np.array([r[name] for r in res.rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        if vals.size:
            ax.hist(vals, bins=min(20, max(5, vals.size)))
        ax.set_title(f"{name} ({better(name)} is better)", fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_dir / "histograms.png", dpi=80)
    return "histograms.png"


# -- outputs -----------------------------------------------------------------------------------------


def better(name: str) -> str:
    """Which direction of metric ``name`` (or its ``ref_`` column) is better: "higher" or "lower"."""
    return "higher" if higher_is_better(name) else "lower"


def fmt_value(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.4g}"


def finite_or_none(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None  # strict JSON has no NaN


def write_outputs(res: EvalResult, out_dir: Path) -> None:
    """metrics.json, metrics.csv and report.md."""
    agg = res.aggregate()
    doc = {
        "model": res.model,
        "data": res.data,
        "sample_rate": res.sample_rate,
        "device": res.device,
        "metrics": list(res.metrics),
        "reference_columns": list(res.reference),
        "higher_is_better": {k: higher_is_better(k) for k in res.metrics},
        "aggregate": {k: {s: finite_or_none(v) for s, v in d.items()} for k, d in agg.items()},
        "speed": {"audio_s": res.audio_s, "synth_s": res.synth_s, "rtf": res.rtf},
        "num_files": len(res.rows),
        "num_skipped": len(res.skipped),
        "files": [{k: finite_or_none(v) for k, v in r.items()} for r in res.rows],
        "skipped": res.skipped,
        "plots": res.plots,
    }
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    with open(out_dir / "metrics.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["path", "duration_s", "synth_s", *res.columns])
        w.writeheader()
        w.writerows(res.rows)
    (out_dir / "report.md").write_text(render_report(res, agg), encoding="utf-8")


def render_report(res: EvalResult, agg: dict[str, dict[str, float]]) -> str:
    """report.md: settings, the aggregate table, speed, plots, per-file rows and skipped files."""
    lines = [
        "# vocoder-evaluate report",
        "",
        f"- model: `{res.model}`",
        f"- data: `{res.data}`",
        f"- sample rate: {res.sample_rate} Hz, device: {res.device}",
        f"- files evaluated: {len(res.rows)}, skipped: {len(res.skipped)}",
        "",
        "## Aggregate",
        "",
        "| metric | better | mean | std | min | max | n | NaN | reference mean |",
        "|---" * 9 + "|",
    ]
    for name in res.metrics:
        d = agg[name]
        stats = " | ".join(fmt_value(d[s]) for s in ("mean", "std", "min", "max"))
        ref = agg.get(REFERENCE_PREFIX + name)
        lines.append(
            f"| {name} | {better(name)} | {stats} | {d['n']} | {d['n_nan']} | "
            f"{fmt_value(ref['mean']) if ref else '-'} |"
        )
    if res.reference:
        lines += [
            "",
            "The reference mean is the recordings' own score, for metrics that need no reference (DNSMOS).",
        ]
    lines += [
        "",
        "## Speed",
        "",
        f"{res.audio_s:.2f} s of audio synthesized in {res.synth_s:.3f} s: real-time factor "
        f"{fmt_value(res.rtf)} "
        f"({fmt_value(1 / res.rtf if res.rtf > 0 else math.nan)}x faster than real time; copy synthesis, "
        "batch 1, "
        f"{res.device}, after one warm-up call; metrics not included).",
        "",
        "## Plots",
        "",
        *[f"![{p}]({p})" for p in res.plots],
        "",
        "## Per file",
        "",
        "| file | seconds | " + " | ".join(res.columns) + " |",
        "|---" * (2 + len(res.columns)) + "|",
    ]
    for r in res.rows:
        vals = " | ".join(fmt_value(r[m]) for m in res.columns)
        lines.append(f"| `{Path(r['path']).name}` | {r['duration_s']:.2f} | {vals} |")
    if res.skipped:
        lines += ["", f"## Skipped files ({len(res.skipped)})", ""]
        lines += [f"- `{s['path']}`: {s['reason']}" for s in res.skipped]
    return "\n".join(lines) + "\n"

"""Writing a copy-synthesis evaluation's report: plots, ``metrics.json``, ``metrics.csv``, ``report.md``
and ``report.html``.

:func:`write_outputs` writes what :func:`vocoder_train.evaluation.copy_synthesis.evaluate_files`
measured (an :class:`~vocoder_train.evaluation.copy_synthesis.EvalResult`); the plot and formatting
helpers here also serve the A/B report (:mod:`vocoder_train.evaluation.compare_report`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from vocoder_train.evaluation import html_report as h
from vocoder_train.evaluation.media import REFERENCE, worst_first
from vocoder_train.metrics.registry import REFERENCE_PREFIX, higher_is_better

if TYPE_CHECKING:
    from vocoder_train.evaluation.copy_synthesis import EvalResult

RESULT_FILES = ("metrics.json", "metrics.csv", "report.md", "report.html")


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


def shown_note(order_by: str, shown: int, system: str = "") -> str:
    """The line saying which files the report shows in full (``system``: whose values order them)."""
    of = f" of {system}" if system else ""
    return f"files shown in full: the {shown} worst by {order_by}{of} ({better(order_by)} is better)"


def method_section(facts: Sequence[str]) -> list[str]:
    """report.md's lines saying how its numbers were made."""
    return ["", "## How these numbers were made", "", *[f"- {f}" for f in facts]]


def method_facts(res: EvalResult) -> list[str]:
    """How a one-model evaluation's numbers were made, one fact a line (report.md and report.html)."""
    return [
        f"{len(res.rows)} files, copy synthesis (audio -> the model's features -> audio) at "
        f"{res.sample_rate} Hz on {res.device}",
        f"decoded by: {res.engine}",
        *res.method,
        shown_note(res.order_by, len(res.media)),
    ]


def how_made(res) -> dict:
    """The metrics.json fields that say how a run's numbers were made (an evaluation's or a comparison's):
    protocol, package versions, metrics, the method lines, reference columns, each metric's direction."""
    return {
        "protocol": res.protocol,
        "versions": res.versions,
        "metrics": list(res.metrics),
        "method": list(res.method),
        "reference_columns": list(res.reference),
        "higher_is_better": {k: higher_is_better(k) for k in res.metrics},
    }


def write_outputs(res: EvalResult, out_dir: Path) -> None:
    """metrics.json, metrics.csv, report.md and report.html."""
    agg = res.aggregate()
    doc = {
        "model": res.model,
        "data": res.data,
        "sample_rate": res.sample_rate,
        "device": res.device,
        "engine": res.engine,
        **how_made(res),
        "aggregate": {k: {s: finite_or_none(v) for s, v in d.items()} for k, d in agg.items()},
        "speed": {"audio_s": res.audio_s, "synth_s": res.synth_s, "rtf": res.rtf},
        "num_files": len(res.rows),
        "num_skipped": len(res.skipped),
        "files": [{k: finite_or_none(v) for k, v in r.items()} for r in res.rows],
        "skipped": res.skipped,
        "plots": res.plots,
        "order_by": res.order_by,
        "shown": res.media,
    }
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    with open(out_dir / "metrics.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["path", "duration_s", "synth_s", *res.columns, *res.support])
        w.writeheader()
        w.writerows(res.rows)
    (out_dir / "report.md").write_text(render_report(res, agg), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(res, agg), encoding="utf-8")


def render_report(res: EvalResult, agg: dict[str, dict[str, float]]) -> str:
    """report.md: settings, the aggregate table, speed, plots, per-file rows and skipped files."""
    lines = [
        "# vocoder-evaluate report",
        "",
        f"- model: `{res.model}`",
        f"- data: `{res.data}`",
        f"- sample rate: {res.sample_rate} Hz, device: {res.device}",
        f"- files evaluated: {len(res.rows)}, skipped: {len(res.skipped)}",
        *method_section(method_facts(res)),
        "",
        "## Aggregate",
        "",
        *table_head(*aggregate_heads(agg)),
    ]
    lines += ["| " + " | ".join(text for text, _ in row) + " |" for row in aggregate_rows(res, agg)]
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
        f"Histograms, then the spectrograms of the {len(res.media)} worst files by {res.order_by}.",
        "",
        *[f"![{p}]({p})" for p in res.plots],
        "",
        "## Per file",
        "",
        *table_head("file", "seconds", *res.columns),
    ]
    for r in res.rows:
        vals = " | ".join(fmt_value(r[m]) for m in res.columns)
        lines.append(f"| `{Path(r['path']).name}` | {r['duration_s']:.2f} | {vals} |")
    return "\n".join(lines + skipped_section(res.skipped)) + "\n"


POOLED_HEAD = "pooled (the protocol's figure)"


def aggregate_heads(agg: dict[str, dict[str, float]]) -> tuple[str, ...]:
    """The aggregate table's columns (:func:`aggregate_rows`); ``pooled`` only when a metric has one."""
    heads = ("metric", "better", "mean", "std", "min", "max", "n", "NaN", "reference mean")
    return heads + ((POOLED_HEAD,) if any("pooled" in d for d in agg.values()) else ())


def pooled_cell(d: dict) -> h.Cell:
    """A metric's figure pooled over every frame of every file, or "-" where its protocol takes the mean."""
    return h.number(d["pooled"], fmt_value(d["pooled"])) if "pooled" in d else ("-", "")


def aggregate_rows(res: EvalResult, agg: dict[str, dict[str, float]]) -> list[list]:
    """The aggregate table's rows as HTML cells (text, sort value): metric, better, mean, std, min,
    max, n, NaN, reference mean, and the pooled figure where a metric has one."""
    rows = []
    pooled = any("pooled" in agg[n] for n in res.metrics)
    for name in res.metrics:
        d, ref = agg[name], agg.get(REFERENCE_PREFIX + name)
        stats = [h.number(d[s], fmt_value(d[s])) for s in ("mean", "std", "min", "max")]
        counts = [h.number(d[s], str(d[s])) for s in ("n", "n_nan")]
        ref_cell = h.number(ref["mean"], fmt_value(ref["mean"])) if ref else ("-", "")
        extra = [pooled_cell(d)] if pooled else []
        rows.append([(name, None), (better(name), None), *stats, *counts, ref_cell, *extra])
    return rows


def skipped_html(skipped: Sequence[dict]) -> list[tuple[str, str]]:
    """report.html's section listing the skipped files (none when none were)."""
    if not skipped:
        return []
    items = "".join(f"<li><code>{h.esc(s['path'])}</code>: {h.esc(s['reason'])}</li>" for s in skipped)
    return [(f"Skipped files ({len(skipped)})", f"<ul>{items}</ul>")]


def render_html(res: EvalResult, agg: dict[str, dict[str, float]]) -> str:
    """report.html of one model: the aggregate table, histograms, the worst files with players for the
    reference and the generated audio, and every file's values, worst first (tables sortable)."""
    ref_cols = {n: REFERENCE_PREFIX + n for n in res.metrics if REFERENCE_PREFIX + n in res.reference}
    files = []
    for rank, m in enumerate(res.media, 1):
        r = res.rows[m["index"]]
        ref_vals = [(fmt_value(r[ref_cols[n]]) if n in ref_cols else "", None) for n in res.metrics]
        rows = [
            (REFERENCE, m["audio"][REFERENCE], ref_vals),
            ("generated", m["audio"]["generated"], [(fmt_value(r[n]), None) for n in res.metrics]),
        ]
        note = f"{res.order_by}: {fmt_value(r[res.order_by])} ({better(res.order_by)} is better)"
        files.append(h.file_section(rank, Path(r["path"]).name, note, res.metrics, rows, m["plot"]))
    order = worst_first([r[res.order_by] for r in res.rows], higher_is_better(res.order_by))
    every = [
        [
            h.number(rank, str(rank)),
            (Path(res.rows[i]["path"]).name, None),
            h.number(res.rows[i]["duration_s"], f"{res.rows[i]['duration_s']:.2f}"),
            *(h.number(res.rows[i][c], fmt_value(res.rows[i][c])) for c in res.columns),
        ]
        for rank, i in enumerate(order, 1)
    ]
    sections = [
        ("Aggregate", h.table(aggregate_heads(agg), aggregate_rows(res, agg))),
        ("Histograms", f'<img src="{h.link(res.plots[0])}" alt="histograms">' if res.plots else ""),
        (f"Files, worst first by {res.order_by}", "\n".join(files) or "<p>none shown (--plots 0)</p>"),
        (
            f"All files, worst first by {res.order_by}",
            h.table(("rank", "file", "seconds", *res.columns), every),
        ),
        *skipped_html(res.skipped),
    ]
    facts = [
        f"model: {res.model}",
        f"data: {res.data}",
        f"files evaluated: {len(res.rows)}, skipped: {len(res.skipped)}",
        f"real-time factor {fmt_value(res.rtf)} ({res.audio_s:.2f} s of audio in {res.synth_s:.3f} s)",
    ]
    return h.page("vocoder-evaluate report", facts, method_facts(res), sections)


def table_head(*columns: str) -> list[str]:
    """A markdown table's header row and rule."""
    return ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]


def skipped_section(skipped: Sequence[dict]) -> list[str]:
    """report.md's lines for the files that were skipped (none when none were)."""
    if not skipped:
        return []
    return [
        "",
        f"## Skipped files ({len(skipped)})",
        "",
        *[f"- `{s['path']}`: {s['reason']}" for s in skipped],
    ]

"""Writing an A/B comparison's report: spectrograms, ``metrics.json``, ``metrics.csv`` and ``report.md``.

What the files hold: :mod:`vocoder_train.evaluation.compare`, whose
:func:`~vocoder_train.evaluation.compare.compare_files` measures the
:class:`~vocoder_train.evaluation.compare.Comparison` written here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from vocoder_train.evaluation.report import (
    better,
    db_spectrogram,
    finite_or_none,
    fmt_value,
    plot_window,
    save_panels,
    skipped_section,
    table_head,
)
from vocoder_train.metrics.registry import REFERENCE_PREFIX, higher_is_better

if TYPE_CHECKING:
    from vocoder_train.evaluation.compare import Comparison, System


def plot_comparison(
    ref: torch.Tensor,
    gens: dict[str, torch.Tensor],
    systems: Sequence[System],
    out_dir: Path,
    index: int,
    title: str,
) -> str:
    """The reference's spectrogram above each system's (each at its own rate); returns the PNG's file name."""
    audio = [("reference", ref, systems[0].sample_rate)] + [
        (s.label, gens[s.label], s.sample_rate) for s in systems
    ]
    panels, top = [], None
    for name, x, sr in audio:
        n_fft = plot_window(sr)
        img = db_spectrogram(x, n_fft, n_fft // 4)
        top = img.max() if top is None else top
        panels.append((name, img, "magma", (-100, top), (0.0, x.shape[-1] / sr, 0.0, sr / 2000)))
    name = f"comparison_{index:03d}.png"
    save_panels(panels, title, out_dir / name)
    return name


def write_comparison(res: Comparison, out_dir: Path) -> None:
    """metrics.json, metrics.csv and report.md of a comparison."""
    agg, deltas, speed = res.aggregate(), res.deltas(), res.speed()

    def clean(tree):
        if isinstance(tree, dict):
            return {k: clean(v) for k, v in tree.items()}
        return finite_or_none(tree)

    doc = {
        "data": res.data,
        "device": res.device,
        "metrics": list(res.metrics),
        "reference_columns": list(res.reference),
        "higher_is_better": {k: higher_is_better(k) for k in res.metrics},
        "systems": [
            {"label": s.label, "model": s.model, "sample_rate": s.sample_rate, **speed[s.label]}
            for s in res.systems
        ],
        "baseline": res.labels[0],
        "aggregate": clean(agg),
        "deltas": clean(deltas),
        "num_files": len(res.rows),
        "num_skipped": len(res.skipped),
        "files": clean(res.rows),
        "skipped": res.skipped,
        "plots": res.plots,
    }
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    write_comparison_csv(res, out_dir / "metrics.csv")
    (out_dir / "report.md").write_text(render_comparison(res, agg, deltas, speed), encoding="utf-8")


def write_comparison_csv(res: Comparison, path: Path) -> None:
    """One row per (file, system): metrics, the reference's own scores, deltas against the first system."""
    first = res.labels[0]
    delta_cols = [f"delta_{n}" for n in res.metrics]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(
            f,
            fieldnames=["path", "system", "duration_s", "synth_s", *res.metrics, *res.reference, *delta_cols],
        )
        w.writeheader()
        for r in res.rows:
            for lab in res.labels:
                vals = r["systems"][lab]
                deltas = {
                    f"delta_{n}": "" if lab == first else vals[n] - r["systems"][first][n]
                    for n in res.metrics
                }
                w.writerow(
                    {
                        "path": r["path"],
                        "system": lab,
                        "duration_s": r["duration_s"],
                        **vals,
                        **{c: r[c] for c in res.reference},
                        **deltas,
                    }
                )


def _delta_cell(d: dict[str, float]) -> str:
    sign = "+" if d["mean"] >= 0 else ""
    return f"{sign}{fmt_value(d['mean'])} ± {fmt_value(d['std'])} ({d['better']}/{d['worse']})"


def render_comparison(res: Comparison, agg: dict, deltas: dict, speed: dict) -> str:
    """report.md of a comparison: systems, means side by side, deltas, plots, per-file deltas."""
    first, others = res.labels[0], res.labels[1:]
    lines = [
        "# vocoder-evaluate A/B report",
        "",
        f"- data: `{res.data}`, device: {res.device}",
        f"- files evaluated: {len(res.rows)} (every system on each), skipped: {len(res.skipped)}",
        "",
        *table_head("system", "model", "sample rate", "real-time factor"),
    ]
    lines += [
        f"| {s.label} | `{s.model}` | {s.sample_rate} | {fmt_value(speed[s.label]['rtf'])} |"
        for s in res.systems
    ]
    lines += [
        "",
        "## Means",
        "",
        *table_head("metric", "better", *res.labels, "reference"),
    ]
    for n in res.metrics:
        ref = agg["reference"].get(REFERENCE_PREFIX + n)
        cells = " | ".join(fmt_value(agg[lab][n]["mean"]) for lab in res.labels)
        lines.append(f"| {n} | {better(n)} | {cells} | {fmt_value(ref['mean']) if ref else '-'} |")
    lines += [
        "",
        "The reference column is the recordings' own score, for metrics that need no reference (DNSMOS).",
        "",
        f"## Deltas against {first}",
        "",
        f"Per file, system - {first}: mean ± std over files (files better / worse).",
        "",
        *table_head("metric", "better", *others),
    ]
    for n in res.metrics:
        lines.append(
            f"| {n} | {better(n)} | " + " | ".join(_delta_cell(deltas[lab][n]) for lab in others) + " |"
        )
    lines += ["", "## Plots", "", *[f"![{p}]({p})" for p in res.plots]]
    for lab in others:
        lines += [
            "",
            f"## Per file: {lab} - {first}",
            "",
            *table_head("file", *res.metrics),
        ]
        for r in res.rows:
            a, b = r["systems"][first], r["systems"][lab]
            lines.append(
                f"| `{Path(r['path']).name}` | "
                + " | ".join(fmt_value(b[n] - a[n]) for n in res.metrics)
                + " |"
            )
    return "\n".join(lines + skipped_section(res.skipped)) + "\n"

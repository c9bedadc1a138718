"""Writing an A/B comparison's report: spectrograms, ``metrics.json``, ``metrics.csv``, ``statistics.csv``,
``report.md`` and ``report.html``.

What the files hold: :mod:`vocoder_train.evaluation.compare`, whose
:func:`~vocoder_train.evaluation.compare.compare_files` measures the
:class:`~vocoder_train.evaluation.compare.Comparison` written here.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from vocoder_train.evaluation import html_report as h
from vocoder_train.evaluation.media import REFERENCE, worst_first
from vocoder_train.evaluation.report import (
    better,
    db_spectrogram,
    finite_or_none,
    fmt_value,
    how_made,
    method_section,
    plot_window,
    save_panels,
    shown_note,
    skipped_html,
    skipped_section,
    table_head,
)
from vocoder_train.evaluation.statistics import FEW_FILES, MIN_SIGNED_RANK, NO_DIFFERENCE
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


def _clean(tree):
    if isinstance(tree, dict):
        return {k: _clean(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_clean(v) for v in tree]
    return finite_or_none(tree)


def statistics_facts(res: Comparison) -> list[str]:
    """How the intervals and p-values were made, one fact a line."""
    b = res.bootstrap
    facts = [
        f"intervals: {b.percent} percentile bootstrap of the mean over files, {b.resamples} resamples, "
        f"seed {b.seed}; a difference is per file, system - {res.labels[0]}",
        "p: two-sided Wilcoxon signed-rank test of the per-file differences (scipy.stats.wilcoxon, zero "
        f"differences dropped), n/a below {MIN_SIGNED_RANK} non-zero differences",
        f'"{NO_DIFFERENCE}": the interval of the difference holds 0; "better" / "worse": it lies wholly '
        "on one side, in the metric's direction",
    ]
    if len(res.rows) < FEW_FILES:
        facts.append(
            f"only {len(res.rows)} files: bootstrap intervals from so few are too narrow, read them as rough"
        )
    return facts


def comparison_facts(res: Comparison) -> list[str]:
    """How a comparison's numbers were made, one fact a line (report.md and report.html)."""
    first = res.systems[0]
    return [
        f"{len(res.rows)} files, every system on each (copy synthesis); the reference read at "
        f"{first.label}'s rate ({first.sample_rate} Hz) and at each system's own rate, device {res.device}",
        *[f"{s.label} decoded by: {s.engine}" for s in res.systems],
        *res.method,
        *statistics_facts(res),
        shown_note(res.order_by, len(res.media), first.label),
    ]


def write_comparison(res: Comparison, out_dir: Path) -> None:
    """metrics.json, metrics.csv, statistics.csv, report.md and report.html of a comparison."""
    agg, deltas, speed = res.aggregate(), res.deltas(), res.speed()
    b = res.bootstrap
    doc = {
        "data": res.data,
        "device": res.device,
        **how_made(res),
        "systems": [
            {
                "label": s.label,
                "model": s.model,
                "sample_rate": s.sample_rate,
                "engine": s.engine,
                **speed[s.label],
            }
            for s in res.systems
        ],
        "baseline": res.labels[0],
        "statistics": {
            "bootstrap_resamples": b.resamples,
            "seed": b.seed,
            "confidence": b.confidence,
            "interval": "percentile bootstrap of the mean over files",
            "test": "Wilcoxon signed-rank, two-sided, zero differences dropped (scipy.stats.wilcoxon)",
            "min_nonzero_differences": MIN_SIGNED_RANK,
        },
        "aggregate": _clean(agg),
        "deltas": _clean(deltas),
        "num_files": len(res.rows),
        "num_skipped": len(res.skipped),
        "files": _clean(res.rows),
        "skipped": res.skipped,
        "plots": res.plots,
        "order_by": res.order_by,
        "shown": res.media,
    }
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    write_comparison_csv(res, out_dir / "metrics.csv")
    write_statistics_csv(res, agg, deltas, out_dir / "statistics.csv")
    (out_dir / "report.md").write_text(render_comparison(res, agg, deltas, speed), encoding="utf-8")
    (out_dir / "report.html").write_text(render_comparison_html(res, agg, deltas, speed), encoding="utf-8")


def write_comparison_csv(res: Comparison, path: Path) -> None:
    """One row per (file, system): metrics, the reference's own scores, deltas against the first system."""
    first = res.labels[0]
    delta_cols = [f"delta_{n}" for n in res.metrics]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(
            f,
            fieldnames=[
                "path",
                "system",
                "duration_s",
                "synth_s",
                *res.metrics,
                *res.reference,
                *delta_cols,
                *res.support,
            ],  # fmt: skip
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


STATISTICS_COLUMNS = (
    "system", "metric", "better", "n", "mean", "ci_low", "ci_high",
    "delta_mean", "delta_ci_low", "delta_ci_high", "p", "p_note", "verdict", "resamples", "seed",
)  # fmt: skip


def write_statistics_csv(res: Comparison, agg: dict, deltas: dict, path: Path) -> None:
    """One row per (system, metric): its mean and interval; for all but the first, the delta against the
    first with its interval, p-value (or why there is none) and verdict."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=STATISTICS_COLUMNS)
        w.writeheader()
        for lab in res.labels:
            for n in res.metrics:
                a, d = agg[lab][n], deltas.get(lab, {}).get(n, {})
                row = {
                    "system": lab,
                    "metric": n,
                    "better": better(n),
                    "n": a["n"],
                    **{k: a[k] for k in ("mean", "ci_low", "ci_high")},
                    **{f"delta_{k}": d.get(k, "") for k in ("mean", "ci_low", "ci_high")},
                    **{k: d.get(k, "") for k in ("p", "p_note", "verdict")},
                    "resamples": res.bootstrap.resamples,
                    "seed": res.bootstrap.seed,
                }
                w.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()})


def fmt_interval(d: dict) -> str:
    """``[low, high]`` of a bootstrap interval, or "n/a" (why) when there is none."""
    if not (math.isfinite(d["ci_low"]) and math.isfinite(d["ci_high"])):
        return f"n/a ({d['ci_note']})" if d.get("ci_note") else "n/a"
    return f"[{fmt_value(d['ci_low'])}, {fmt_value(d['ci_high'])}]"


def fmt_p(d: dict) -> str:
    """The signed-rank p-value, or "n/a (why)"."""
    return f"{d['p']:.3g}" if math.isfinite(d["p"]) else f"n/a ({d['p_note']})"


def _signed(v: float) -> str:
    return ("+" if v >= 0 else "") + fmt_value(v)


def render_comparison(res: Comparison, agg: dict, deltas: dict, speed: dict) -> str:
    """report.md of a comparison: systems, how the numbers were made, means with their intervals, the
    deltas with their statistics, plots, per-file deltas."""
    first, others = res.labels[0], res.labels[1:]
    pct = res.bootstrap.percent
    lines = [
        "# vocoder-evaluate A/B report",
        "",
        f"- data: `{res.data}`, device: {res.device}",
        f"- files evaluated: {len(res.rows)} (every system on each), skipped: {len(res.skipped)}",
        "",
        *table_head("system", "model", "sample rate", "engine", "real-time factor"),
    ]
    lines += [
        f"| {s.label} | `{s.model}` | {s.sample_rate} | {s.engine} | {fmt_value(speed[s.label]['rtf'])} |"
        for s in res.systems
    ]
    lines += method_section(comparison_facts(res))
    lines += [
        "",
        "## Means",
        "",
        f"Mean over files [{pct} bootstrap interval of the mean].",
        "",
        *table_head("metric", "better", *res.labels, "reference"),
    ]
    for n in res.metrics:
        ref = agg["reference"].get(REFERENCE_PREFIX + n)
        cells = " | ".join(
            f"{fmt_value(agg[lab][n]['mean'])} {fmt_interval(agg[lab][n])}" for lab in res.labels
        )
        lines.append(f"| {n} | {better(n)} | {cells} | {fmt_value(ref['mean']) if ref else '-'} |")
    lines += [
        "",
        "The reference column is the recordings' own score, for metrics that need no reference (DNSMOS).",
        *pooled_lines(res, agg),
        "",
        f"## Deltas against {first}",
        "",
        f"Per file, system - {first}: the mean [{pct} bootstrap interval], std over files, files better / "
        "worse, the Wilcoxon signed-rank p-value and what the interval shows.",
        "",
        *table_head(
            "metric", "better", "system", "mean delta [interval]", "std", "better/worse", "p", "verdict"
        ),
    ]
    for n in res.metrics:
        for lab in others:
            d = deltas[lab][n]
            cells = (
                n, better(n), lab, f"{_signed(d['mean'])} {fmt_interval(d)}", fmt_value(d["std"]),
                f"{d['better']}/{d['worse']}", fmt_p(d), d["verdict"],
            )  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Plots", "", f"The {len(res.plots)} worst files by {res.order_by} of {first}.", ""]
    lines += [f"![{p}]({p})" for p in res.plots]
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


def pooled_metrics(res: Comparison, agg: dict) -> list[str]:
    """The metrics whose protocol figure pools every frame of every file."""
    return [n for n in res.metrics if "pooled" in agg[res.labels[0]][n]]


def pooled_lines(res: Comparison, agg: dict) -> list[str]:
    """report.md's table of the figures pooled over every frame of every file (none when no metric pools)."""
    names = pooled_metrics(res, agg)
    if not names:
        return []
    lines = ["", "Pooled over every frame of every file (the protocol's figures):", ""]
    lines += table_head("metric", "better", *res.labels)
    for n in names:
        lines.append(
            f"| {n} | {better(n)} | "
            + " | ".join(fmt_value(agg[lab][n]["pooled"]) for lab in res.labels)
            + " |"
        )
    return lines


def _value(v: float, text: str | None = None) -> h.Cell:
    """A numeric HTML cell: ``text`` (default the value) sorting by the value."""
    return h.number(v, fmt_value(v) if text is None else text)


def _file_sections(res: Comparison) -> list[str]:
    """report.html's sections of the files shown in full: a player and the values of the reference and
    each system, and the spectrograms."""
    first = res.labels[0]
    ref_cols = {n: REFERENCE_PREFIX + n for n in res.metrics if REFERENCE_PREFIX + n in res.reference}
    out = []
    for rank, m in enumerate(res.media, 1):
        r = res.rows[m["index"]]
        ref_vals = [(fmt_value(r[ref_cols[n]]) if n in ref_cols else "", None) for n in res.metrics]
        rows = [(REFERENCE, m["audio"][REFERENCE], ref_vals)]
        for lab in res.labels:
            rows.append(
                (lab, m["audio"][lab], [(fmt_value(r["systems"][lab][n]), None) for n in res.metrics])
            )
        value = fmt_value(r["systems"][first][res.order_by])
        note = f"{res.order_by} of {first}: {value} ({better(res.order_by)} is better)"
        out.append(h.file_section(rank, Path(r["path"]).name, note, res.metrics, rows, m["plot"]))
    return out


def render_comparison_html(res: Comparison, agg: dict, deltas: dict, speed: dict) -> str:
    """report.html of a comparison: systems, means with intervals (a row per system), deltas with their
    statistics, the worst files with a player for the reference and each system, and every file's
    values worst first; every table sorts by any column."""
    first, pct = res.labels[0], res.bootstrap.percent
    systems = [
        [(s.label, None), (s.model, None), _value(s.sample_rate, str(s.sample_rate)), (s.engine, None)]
        + [_value(speed[s.label]["rtf"])]
        for s in res.systems
    ]
    means = [
        [
            (lab, None),
            *(_value(a["mean"], f"{fmt_value(a['mean'])} {fmt_interval(a)}") for a in agg[lab].values()),
        ]
        for lab in res.labels
    ]
    refs = [agg["reference"].get(REFERENCE_PREFIX + n) for n in res.metrics]
    means.append([(REFERENCE, None), *(_value(ref["mean"]) if ref else ("-", "") for ref in refs)])
    delta_rows = []
    for lab in res.labels[1:]:
        for n, d in deltas[lab].items():
            interval = [_value(d["mean"], _signed(d["mean"])), _value(d["ci_low"]), _value(d["ci_high"])]
            counts = (f"{d['better']}/{d['worse']}", None)
            delta_rows.append(
                [(lab, None), (n, None), (better(n), None), *interval, counts, _value(d["p"], fmt_p(d))]
                + [(d["verdict"], None)]
            )
    order = worst_first(res.values(first, res.order_by).tolist(), higher_is_better(res.order_by))
    columns = [(n, lab) for n in res.metrics for lab in res.labels]
    every = [
        [_value(rank, str(rank)), (Path(res.rows[i]["path"]).name, None)]
        + [_value(res.rows[i]["systems"][lab][n]) for n, lab in columns]
        for rank, i in enumerate(order, 1)
    ]
    pooled = [
        [(lab, None), *(_value(agg[lab][n]["pooled"]) for n in pooled_metrics(res, agg))]
        for lab in res.labels
    ]
    delta_heads = ("system", "metric", "better", "mean delta", f"{pct} low", f"{pct} high")
    worst = f"worst first by {res.order_by} of {first}"
    sections = [
        ("Systems", h.table(("system", "model", "sample rate", "engine", "real-time factor"), systems)),
        (
            f"Means [{pct} bootstrap interval]",
            h.table(("system", *(f"{n} ({better(n)} is better)" for n in res.metrics)), means),
        ),
        *(
            [
                (
                    "Pooled over every frame of every file (the protocol's figures)",
                    h.table(
                        ("system", *(f"{n} ({better(n)} is better)" for n in pooled_metrics(res, agg))),
                        pooled,
                    ),
                )
            ]
            if pooled_metrics(res, agg)
            else []
        ),
        (
            f"Deltas against {first}",
            h.table((*delta_heads, "files better/worse", "p", "verdict"), delta_rows),
        ),
        (f"Files, {worst}", "\n".join(_file_sections(res)) or "<p>none shown (--plots 0)</p>"),
        (f"All files, {worst}", h.table(("rank", "file", *(f"{n} {lab}" for n, lab in columns)), every)),
        *skipped_html(res.skipped),
    ]
    facts = [
        f"data: {res.data}",
        f"files evaluated: {len(res.rows)} (every system on each), skipped: {len(res.skipped)}",
    ]
    return h.page("vocoder-evaluate A/B report", facts, comparison_facts(res), sections)

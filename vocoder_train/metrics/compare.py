"""A/B evaluation: several systems (models, a Griffin-Lim baseline) on the same reference files, one report.

Each file is read once per sample rate and resynthesized by every system; each system is scored
against the same reference, and the metrics that need no reference (DNSMOS) are also scored on
the reference, once. A file that any system cannot handle is skipped for all of them, so every
mean and every delta is over the same files. :func:`compare_files` writes into one folder:

- ``metrics.json``: the systems (label, model, rate, speed), per-system aggregates, deltas
  against the first system, and per-file values;
- ``metrics.csv``: one row per (file, system) with the metrics and their deltas against the first;
- ``report.md``: means side by side, mean deltas with how many files got better or worse, per-file
  deltas, and spectrograms of the first files (the reference above each system's).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vocoder_train.metrics.registry import (
    REFERENCE_PREFIX,
    MetricOptions,
    higher_is_better,
    reference_columns,
)
from vocoder_train.metrics.report import (
    EvalSettings,
    Resynthesizer,
    better,
    db_spectrogram,
    finite_or_none,
    fmt_value,
    load_reference,
    plot_window,
    resynthesize,
    save_panels,
    score,
    score_reference,
    scored_files,
    summarize,
)


@dataclass
class System:
    """One column of the comparison. label: short name in tables ("A", "griffin_lim");
    model: what it is (a path); resynthesizer: ``sample_rate`` + ``copy_synthesis``."""

    label: str
    model: str
    resynthesizer: Resynthesizer

    @property
    def sample_rate(self) -> int:
        return int(self.resynthesizer.sample_rate)


@dataclass
class Comparison:
    """What :func:`compare_files` measured. ``rows``: per file ``path``, ``duration_s``, the
    reference's own scores (``ref_<name>``) and ``systems``: label -> {synth_s, metric values}."""

    data: str
    device: str
    metrics: tuple[str, ...]
    systems: list[System]
    reference: tuple[str, ...] = ()
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.systems]

    def values(self, label: str, name: str) -> np.ndarray:
        """Per-file values of metric ``name`` for system ``label`` (float64, NaN kept)."""
        return np.array([r["systems"][label][name] for r in self.rows], dtype=np.float64)

    def aggregate(self) -> dict[str, dict[str, dict[str, float]]]:
        """label -> metric -> mean/std/min/max/n/n_nan; the reference's own scores under ``reference``."""
        out = {lab: {n: summarize(self.values(lab, n)) for n in self.metrics} for lab in self.labels}
        out["reference"] = {c: summarize([r[c] for r in self.rows]) for c in self.reference}
        return out

    def deltas(self) -> dict[str, dict[str, dict[str, float]]]:
        """label -> metric -> per-file ``system - first`` mean/std/n, and how many files got better/worse."""
        first = self.labels[0]
        out: dict[str, dict[str, dict[str, float]]] = {}
        for lab in self.labels[1:]:
            out[lab] = {}
            for n in self.metrics:
                d = self.values(lab, n) - self.values(first, n)
                ok = d[np.isfinite(d)]
                sign = 1.0 if higher_is_better(n) else -1.0
                out[lab][n] = {
                    "mean": float(ok.mean()) if ok.size else math.nan,
                    "std": float(ok.std()) if ok.size else math.nan,
                    "n": int(ok.size),
                    "better": int(np.sum(sign * ok > 0)),
                    "worse": int(np.sum(sign * ok < 0)),
                }
        return out

    def speed(self) -> dict[str, dict[str, float]]:
        """label -> audio_s, synth_s, rtf (synthesis time / audio duration)."""
        audio_s = float(sum(r["duration_s"] for r in self.rows))
        out = {}
        for lab in self.labels:
            synth_s = float(sum(r["systems"][lab]["synth_s"] for r in self.rows))
            out[lab] = {
                "audio_s": audio_s,
                "synth_s": synth_s,
                "rtf": synth_s / audio_s if audio_s else math.nan,
            }
        return out


# -- the loop ----------------------------------------------------------------------------------------


def score_file_all(
    systems: Sequence[System], path: str, names: Sequence[str], options: MetricOptions | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
    """(reference (T,) at the first system's rate, generated (T,) per label, row) for one file.

    Raises AudioReadError/ValueError/RuntimeError (naming the system) when any system cannot handle it."""
    refs: dict[int, torch.Tensor] = {}
    gens: dict[str, torch.Tensor] = {}
    row: dict = {"path": str(path), "systems": {}}
    for s in systems:
        sr = s.sample_rate
        if sr not in refs:
            refs[sr] = load_reference(path, sr)
        try:
            gen, seconds = resynthesize(s.resynthesizer, refs[sr])
        except (ValueError, RuntimeError) as e:
            raise RuntimeError(f"system {s.label} ({s.model}): {e}") from e
        gens[s.label] = gen
        row["systems"][s.label] = {"synth_s": seconds, **score(refs[sr][0], gen, sr, names, options)}
    first = systems[0].sample_rate
    ref = refs[first][0]
    row["duration_s"] = ref.shape[-1] / first
    row.update(score_reference(ref, first, names, options))
    return ref, gens, row


def compare_files(
    systems: Sequence[System],
    paths: Sequence[str],
    output: str | Path,
    settings: EvalSettings | None = None,
) -> Comparison:
    """Scores ``paths`` through every system and writes the comparison into ``output``.

    ``systems``: two or more; deltas are against the first. ``labels``: ``data`` and ``device`` as
    the report names them; ``options``: the CREPE model and device."""
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

    if len(systems) < 2 or len({s.label for s in systems}) != len(systems):
        raise ValueError(
            f"compare_files: needs two or more systems with distinct labels, got {[s.label for s in systems]}"
        )
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = {"data": "", "device": "cpu", **(labels or {})}
    for s in systems:  # warm-up, so the real-time factors exclude first-call setup
        s.resynthesizer.copy_synthesis(torch.zeros(1, s.sample_rate // 2))
    res = Comparison(
        labels["data"], labels["device"], tuple(metrics), list(systems), reference_columns(metrics)
    )

    def score_one(path: str):
        return score_file_all(res.systems, path, res.metrics, options)

    for path, (ref, gens, row) in scored_files(paths, score_one, res.skipped, "comparing", progress):
        res.rows.append(row)
        index = len(res.rows) - 1
        if save_audio:
            for s in res.systems:
                write_audio(
                    out_dir / "audio" / s.label / f"{index:04d}_{Path(path).stem}.wav",
                    gens[s.label],
                    s.sample_rate,
                )
        if index < plots:
            res.plots.append(plot_comparison(ref, gens, res.systems, out_dir, index, Path(path).name))
    if not res.rows:
        raise RuntimeError(
            f"vocoder-evaluate: none of the {len(paths)} files in {res.data} could be evaluated"
        )
    write_comparison(res, out_dir)
    return res


# -- plots and outputs ---------------------------------------------------------------------------------


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
        "| system | model | sample rate | real-time factor |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {s.label} | `{s.model}` | {s.sample_rate} | {fmt_value(speed[s.label]['rtf'])} |"
        for s in res.systems
    ]
    lines += [
        "",
        "## Means",
        "",
        "| metric | better | " + " | ".join(res.labels) + " | reference |",
        "|---" * (3 + len(res.labels)) + "|",
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
        "| metric | better | " + " | ".join(others) + " |",
        "|---" * (2 + len(others)) + "|",
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
            "| file | " + " | ".join(res.metrics) + " |",
            "|---" * (1 + len(res.metrics)) + "|",
        ]
        for r in res.rows:
            a, b = r["systems"][first], r["systems"][lab]
            lines.append(
                f"| `{Path(r['path']).name}` | "
                + " | ".join(fmt_value(b[n] - a[n]) for n in res.metrics)
                + " |"
            )
    if res.skipped:
        lines += ["", f"## Skipped files ({len(res.skipped)})", ""]
        lines += [f"- `{s['path']}`: {s['reason']}" for s in res.skipped]
    return "\n".join(lines) + "\n"

"""A/B evaluation runs: several systems (models, a Griffin-Lim baseline) scored on the same reference files.

Each file is read once per sample rate and resynthesized by every system; each system is scored
against the same reference, and the metrics that need no reference (DNSMOS) are also scored on
the reference, once. A file that any system cannot handle is skipped for all of them, so every
mean and every delta is over the same files. :func:`compare_files` writes into one folder
(:mod:`vocoder_train.evaluation.compare_report`):

- ``metrics.json``: the systems (label, model, rate, engine, speed), per-system aggregates with
  bootstrap intervals of the means, deltas against the first system with their intervals and
  signed-rank p-values (:mod:`vocoder_train.evaluation.statistics`), and per-file values;
- ``metrics.csv``: one row per (file, system) with the metrics and their deltas against the first;
- ``statistics.csv``: one row per (system, metric): the mean and its interval, the delta against
  the first with its interval, p-value and verdict;
- ``report.md``: how the numbers were made, means with their intervals side by side, the deltas
  with how many files got better or worse, per-file deltas, and spectrograms of the worst files
  (the reference above each system's);
- ``report.html``: the same tables, sortable, and the worst files with a player for the reference
  and each system (their audio in ``audio/``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vocoder_train.evaluation.compare_report import plot_comparison, write_comparison
from vocoder_train.evaluation.copy_synthesis import (
    EvalSettings,
    Resynthesizer,
    load_reference,
    require_rows,
    resynthesize,
    score,
    score_reference,
    scored_files,
    summarize,
)
from vocoder_train.evaluation.media import REFERENCE, WorstFiles, audio_file, write_worst
from vocoder_train.evaluation.method import describe_engine
from vocoder_train.evaluation.statistics import Bootstrap, mean_interval, paired_difference
from vocoder_train.metrics.registry import (
    MetricOptions,
    higher_is_better,
    pooled_figures,
    reference_columns,
    support_columns,
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

    @property
    def engine(self) -> str:
        """What decodes it, in words (:func:`~vocoder_train.evaluation.method.describe_engine`)."""
        return describe_engine(self.resynthesizer)


@dataclass
class Comparison:
    """What :func:`compare_files` measured. ``rows``: per file ``path``, ``duration_s``, the
    reference's own scores (``ref_<name>``) and ``systems``: label -> {synth_s, metric values}.
    ``method``: how each metric was computed, in words; ``bootstrap``: the intervals' resamples and
    seed; ``media``: the files shown in full, worst first by ``order_by``; ``protocol``, ``versions``
    and ``support``: as :class:`~vocoder_train.evaluation.copy_synthesis.EvalResult`'s."""

    data: str
    device: str
    metrics: tuple[str, ...]
    systems: list[System]
    reference: tuple[str, ...] = ()
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    method: tuple[str, ...] = ()
    order_by: str = ""
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    media: list[dict] = field(default_factory=list)
    protocol: str = "vocos"
    versions: dict[str, str] = field(default_factory=dict)
    support: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.systems]

    def values(self, label: str, name: str) -> np.ndarray:
        """Per-file values of metric ``name`` for system ``label`` (float64, NaN kept)."""
        return np.array([r["systems"][label][name] for r in self.rows], dtype=np.float64)

    def aggregate(self) -> dict[str, dict[str, dict]]:
        """label -> metric -> mean/std/min/max/n/n_nan and the bootstrap interval of the mean
        (ci_low/ci_high/ci_note), and ``pooled`` for a metric whose protocol figure pools every frame of
        every file; the reference's own scores under ``reference``."""
        out = {}
        for lab in self.labels:
            out[lab] = {}
            for n in self.metrics:
                vals = self.values(lab, n)
                ci = mean_interval(vals, self.bootstrap)
                out[lab][n] = {**summarize(vals), **{k: ci[k] for k in ("ci_low", "ci_high", "ci_note")}}
            pooled = pooled_figures(self.metrics, [r["systems"][lab] for r in self.rows])
            for n, value in pooled.items():
                out[lab][n]["pooled"] = value
        out["reference"] = {c: summarize([r[c] for r in self.rows]) for c in self.reference}
        return out

    def deltas(self) -> dict[str, dict[str, dict]]:
        """label -> metric -> the per-file ``system - first`` differences: mean/std/n, how many files got
        better/worse, the bootstrap interval of the mean, the signed-rank p-value and the verdict
        (:func:`~vocoder_train.evaluation.statistics.paired_difference`)."""
        first = self.labels[0]
        return {
            lab: {
                n: paired_difference(
                    self.values(first, n), self.values(lab, n), self.bootstrap, higher_is_better(n)
                )
                for n in self.metrics
            }
            for lab in self.labels[1:]
        }

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
    from vocoder_train.io.audio import save_audio as write_audio

    opts = settings or EvalSettings()
    order = opts.order_metric()
    labels_given = [s.label for s in systems]
    if len(systems) < 2 or len(set(labels_given)) != len(systems) or REFERENCE in labels_given:
        raise ValueError(
            f"compare_files: needs two or more systems with distinct labels other than {REFERENCE!r}, "
            f"got {labels_given}"
        )
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = {"data": "", "device": "cpu", **(opts.labels or {})}
    for s in systems:  # warm-up, so the real-time factors exclude first-call setup
        s.resynthesizer.copy_synthesis(torch.zeros(1, s.sample_rate // 2))
    res = Comparison(
        labels["data"],
        labels["device"],
        tuple(opts.metrics),
        list(systems),
        reference_columns(opts.metrics),
        method=opts.describe(),
        order_by=order,
        bootstrap=opts.bootstrap,
        protocol=opts.protocol,
        versions=opts.versions(),
        support=support_columns(opts.metrics),
    )
    first = res.systems[0]
    worst = WorstFiles(opts.plots, higher_is_better(order))

    def score_one(path: str):
        return score_file_all(res.systems, path, res.metrics, opts.options)

    for path, (ref, gens, row) in scored_files(paths, score_one, res.skipped, "comparing", opts.progress):
        res.rows.append(row)
        index = len(res.rows) - 1
        if opts.save_audio:
            for s in res.systems:
                write_audio(out_dir / audio_file(index, path, s.label), gens[s.label], s.sample_rate)
        worst.offer(index, row["systems"][first.label][order], (ref, gens))
    require_rows(res, paths)

    def tracks(index: int, item) -> list:
        path, (ref, gens) = res.rows[index]["path"], item
        return [(REFERENCE, audio_file(index, path, REFERENCE), ref, first.sample_rate)] + [
            (s.label, audio_file(index, path, s.label), gens[s.label], s.sample_rate) for s in res.systems
        ]

    def plot(rank: int, item, title: str) -> str:
        return plot_comparison(item[0], item[1], res.systems, out_dir, rank, title)

    res.media = write_worst(worst, res.rows, out_dir, tracks, plot)
    res.plots = [m["plot"] for m in res.media]
    write_comparison(res, out_dir)
    return res

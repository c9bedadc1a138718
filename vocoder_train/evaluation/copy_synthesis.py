"""Copy-synthesis evaluation runs: score reference files through a vocoder and aggregate the scores.

For each reference file: audio -> features -> audio with the vocoder (any object with a
``sample_rate`` and a ``copy_synthesis(audio (1, T)) -> (1, T)``, e.g.
:class:`vocoder_train.models.vocoder.Vocoder`), then the metrics of :mod:`vocoder_train.metrics` on
(reference, generated). Metrics that need no reference (DNSMOS) are also scored on the reference,
as ``ref_<name>`` columns beside the generated audio's. :func:`evaluate_files` writes the result
files of :mod:`vocoder_train.evaluation.report` (``metrics.json``, ``metrics.csv``, ``report.md``,
``report.html``, PNG plots, the audio of the worst files). Files that cannot be read are skipped
with a warning. Several models on the same files: :mod:`vocoder_train.evaluation.compare`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vocoder_train.evaluation.media import REFERENCE, WorstFiles, audio_file, write_worst
from vocoder_train.evaluation.method import (
    describe_engine,
    describe_metrics,
    describe_protocol,
    package_versions,
)
from vocoder_train.evaluation.report import plot_histograms, plot_spectrograms, write_outputs
from vocoder_train.evaluation.statistics import Bootstrap
from vocoder_train.metrics.registry import (
    EVALUATE_METRICS,
    MetricOptions,
    compute_metrics,
    higher_is_better,
    pooled_figures,
    reference_columns,
    reference_scores,
    support_columns,
)


class Resynthesizer(Protocol):
    """What :func:`evaluate_files` needs of a model."""

    sample_rate: int

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor: ...


@dataclass
class EvalResult:
    """What :func:`evaluate_files` measured. ``rows``: one dict per scored file (path, duration_s,
    synth_s, metrics, and the reference's own scores in the ``reference`` columns). ``engine`` and
    ``method``: what decoded and how each metric was computed, in words; ``media``: the files shown
    in full, worst first by ``order_by`` (:func:`~vocoder_train.evaluation.media.write_worst`);
    ``protocol``: the metric set named on the command line; ``versions``: of the packages that computed
    the metrics; ``support``: the per-file counts in ``rows`` that pooled figures need."""

    model: str
    data: str
    sample_rate: int
    device: str
    metrics: tuple[str, ...]
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    reference: tuple[str, ...] = ()
    engine: str = ""
    method: tuple[str, ...] = ()
    order_by: str = ""
    media: list[dict] = field(default_factory=list)
    protocol: str = "vocos"
    versions: dict[str, str] = field(default_factory=dict)
    support: tuple[str, ...] = ()

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
        """Per column: mean, std, min, max over files with a finite value; n (those files), n_nan; and
        ``pooled`` for a metric whose protocol figure pools every frame of every file."""
        out = {name: summarize([r[name] for r in self.rows]) for name in self.columns}
        for name, value in pooled_figures(self.metrics, self.rows).items():
            out[name]["pooled"] = value
        return out


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
        return compute_metrics(ref, gen, sample_rate, tuple(names), options, support=True)


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


def require_rows(res, paths: Sequence[str]) -> None:
    """Raises RuntimeError when none of ``paths`` could be scored (``res``: an :class:`EvalResult` or a
    :class:`~vocoder_train.evaluation.compare.Comparison`, every file of it skipped)."""
    if not res.rows:
        raise RuntimeError(
            f"vocoder-evaluate: none of the {len(paths)} files in {res.data} could be evaluated"
        )


@dataclass
class EvalSettings:
    """What an evaluation computes and writes, shared by :func:`evaluate_files` and
    :func:`vocoder_train.evaluation.compare.compare_files`.

    ``plots``: how many files are shown in full (spectrograms; audio players in report.html), the
    worst by ``order_by`` (default: the first metric); ``save_audio``: keep every file's generated
    audio; ``labels``: ``model``, ``data`` and ``device`` as the report names them; ``options``: the
    CREPE model and device (:class:`~vocoder_train.metrics.registry.MetricOptions`); ``bootstrap``:
    resamples and seed of an A/B report's intervals; ``protocol``: the metric set it was asked for
    (:data:`~vocoder_train.metrics.registry.PROTOCOLS`), recorded in the reports."""

    metrics: Sequence[str] = EVALUATE_METRICS
    plots: int = 10
    save_audio: bool = False
    progress: bool = True
    labels: dict[str, str] | None = None
    options: MetricOptions | None = None
    order_by: str | None = None
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    protocol: str = "vocos"

    def order_metric(self) -> str:
        """The metric files are ordered by; ValueError when it is not among ``metrics``."""
        name = self.order_by or self.metrics[0]
        if name not in self.metrics:
            raise ValueError(
                f"order by {name!r}: not among the metrics evaluated ({', '.join(self.metrics)})"
            )
        return name

    def describe(self) -> tuple[str, ...]:
        """The protocol, how each of ``metrics`` is computed and the packages' versions, in words
        (:mod:`vocoder_train.evaluation.method`)."""
        versions = ", ".join(f"{k} {v}" for k, v in self.versions().items())
        return (
            describe_protocol(self.protocol, self.metrics),
            *describe_metrics(self.metrics, self.options),
            f"versions: {versions}",
        )

    def versions(self) -> dict[str, str]:
        """Versions of the packages that compute ``metrics``."""
        return package_versions(self.metrics)


def evaluate_files(
    model: Resynthesizer,
    paths: Sequence[str],
    output: str | Path,
    settings: EvalSettings | None = None,
) -> EvalResult:
    """Scores ``paths`` through ``model`` and writes the result files into ``output``.

    ``settings``: metrics, plots, labels and metric options (:class:`EvalSettings`)."""
    from vocoder_train.io.audio import save_audio as write_audio

    opts = settings or EvalSettings()
    order = opts.order_metric()
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = {"model": "", "data": "", "device": "cpu", **(opts.labels or {})}
    sr = model.sample_rate
    model.copy_synthesis(torch.zeros(1, sr // 2))  # warm-up, so the RTF excludes first-call setup
    res = EvalResult(
        labels["model"],
        labels["data"],
        sr,
        labels["device"],
        tuple(opts.metrics),
        reference=reference_columns(opts.metrics),
        engine=describe_engine(model),
        method=opts.describe(),
        order_by=order,
        protocol=opts.protocol,
        versions=opts.versions(),
        support=support_columns(opts.metrics),
    )
    worst = WorstFiles(opts.plots, higher_is_better(order))

    def score_one(path: str):
        return score_file(model, path, res.metrics, opts.options)

    for path, (ref, gen, row) in scored_files(paths, score_one, res.skipped, "evaluating", opts.progress):
        res.rows.append(row)
        index = len(res.rows) - 1
        if opts.save_audio:
            write_audio(out_dir / audio_file(index, path), gen, sr)
        worst.offer(index, row[order], (ref, gen))
    require_rows(res, paths)

    def tracks(index: int, item) -> list:
        path = res.rows[index]["path"]
        return [
            (REFERENCE, audio_file(index, path, REFERENCE), item[0], sr),
            ("generated", audio_file(index, path), item[1], sr),
        ]

    def plot(rank: int, item, title: str) -> str:
        return plot_spectrograms(item[0], item[1], sr, out_dir, rank, title)

    res.media = write_worst(worst, res.rows, out_dir, tracks, plot)
    res.plots = [plot_histograms(res, out_dir), *(m["plot"] for m in res.media)]
    write_outputs(res, out_dir)
    return res

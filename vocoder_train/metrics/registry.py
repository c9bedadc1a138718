"""Which metrics exist, which way is better, and :func:`compute_metrics` to run several at once.

Some metrics come in groups computed from one analysis (one pair of CREPE tracks gives
``periodicity``, ``vuv_f1`` and ``pitch_cents``); asking for any of a group computes the group
once. DNSMOS needs no reference: :func:`reference_scores` gives the reference's own values, as
``ref_<name>``, to stand beside the generated audio's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from vocoder_train.metrics._common import AudioLike, paired_numpy, to_numpy
from vocoder_train.metrics.crepe import check_model
from vocoder_train.metrics.perceptual import pesq_wb, si_sdr, stoi
from vocoder_train.metrics.spectral import mel_l1_distance, mrstft_distance

REFERENCE_PREFIX = "ref_"  # column of a reference-free metric scored on the reference itself


@dataclass(frozen=True)
class MetricSpec:
    """name: key in results and logs; higher_is_better: direction for checkpoint selection;
    fn(ref, deg, sample_rate) -> float, or None for a metric computed with its ``group``;
    needs_reference: False for metrics that score the generated signal alone (DNSMOS)."""

    name: str
    higher_is_better: bool
    fn: Callable[[AudioLike, AudioLike, int], float] | None
    description: str
    group: str | None = None
    needs_reference: bool = True


@dataclass(frozen=True)
class MetricOptions:
    """crepe_model: "full" (the Vocos paper's) or "tiny" (much faster on a CPU, scores differ);
    device: where CREPE runs (None: the GPU when there is one)."""

    crepe_model: str = "full"
    device: str | None = None

    def __post_init__(self) -> None:
        check_model(self.crepe_model)


def _crepe_group(r: np.ndarray, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    from vocoder_train.metrics.crepe import crepe_metrics

    return crepe_metrics(r, d, sr, opts.crepe_model, opts.device)


def _yin_group(r: np.ndarray, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    from vocoder_train.metrics.pitch import yin_metrics

    return {f"{k}_yin": v for k, v in yin_metrics(r, d, sr).items()}


def _dnsmos_group(r: np.ndarray | None, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    from vocoder_train.metrics.dnsmos import dnsmos

    return dnsmos(d, sr)


GROUPS: dict[str, Callable[..., dict[str, float]]] = {
    "crepe": _crepe_group,
    "yin": _yin_group,
    "dnsmos": _dnsmos_group,
}

METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("mel_l1", False, mel_l1_distance, "log-mel L1 distance (Vocos' mel_loss)"),
        MetricSpec("mrstft", False, lambda r, d, sr: mrstft_distance(r, d), "multi-resolution STFT distance"),
        MetricSpec("pesq", True, pesq_wb, "wide-band PESQ (MOS-LQO)"),
        MetricSpec("stoi", True, stoi, "short-time objective intelligibility"),
        MetricSpec("si_sdr", True, lambda r, d, sr: si_sdr(r, d), "scale-invariant SDR, dB"),
        MetricSpec("periodicity", False, None, "RMSE of CREPE periodicity (the Vocos paper's)", "crepe"),
        MetricSpec(
            "vuv_f1", True, None, "F1 of CREPE voiced/unvoiced decisions (the Vocos paper's)", "crepe"
        ),
        MetricSpec("pitch_cents", False, None, "CREPE f0 RMSE in cents on frames voiced in both", "crepe"),
        MetricSpec("periodicity_yin", False, None, "RMSE of YIN periodicity curves (fast)", "yin"),
        MetricSpec("vuv_f1_yin", True, None, "F1 of YIN voiced/unvoiced decisions (fast)", "yin"),
        MetricSpec(
            "pitch_cents_yin", False, None, "YIN f0 RMSE in cents on frames voiced in both (fast)", "yin"
        ),
        MetricSpec("dnsmos_sig", True, None, "DNSMOS P.835 speech signal quality", "dnsmos", False),
        MetricSpec("dnsmos_bak", True, None, "DNSMOS P.835 background noise quality", "dnsmos", False),
        MetricSpec("dnsmos_ovrl", True, None, "DNSMOS P.835 overall quality", "dnsmos", False),
        MetricSpec("dnsmos_p808", True, None, "DNSMOS P.808 MOS", "dnsmos", False),
    )
}

# validation.metrics' choices and vocoder-evaluate's defaults
DEFAULT_METRICS = ("mel_l1", "mrstft", "pesq", "stoi", "si_sdr", "periodicity", "vuv_f1")
DNSMOS_METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
EVALUATE_METRICS = DEFAULT_METRICS + DNSMOS_METRICS
# computed only every validation.slow_every validations in training: each costs CPU seconds per item
SLOW_METRICS = frozenset(
    {
        "pesq",
        "stoi",
        "periodicity",
        "vuv_f1",
        "pitch_cents",
        "periodicity_yin",
        "vuv_f1_yin",
        "pitch_cents_yin",
        *DNSMOS_METRICS,
    }
)
HIGHER_IS_BETTER: dict[str, bool] = {k: s.higher_is_better for k, s in METRICS.items()}


def base_name(name: str) -> str:
    """``val/pesq`` -> ``pesq``; ``ref_dnsmos_ovrl`` -> ``dnsmos_ovrl`` (the metric a column holds)."""
    key = name.rsplit("/", 1)[-1]
    return key.removeprefix(REFERENCE_PREFIX) if key.startswith(REFERENCE_PREFIX) else key


def higher_is_better(name: str) -> bool:
    """Direction of a metric or column name (``val/...``, ``ref_...`` accepted)."""
    key = base_name(name)
    if key not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[key].higher_is_better


def metric_mode(name: str) -> str:
    """``"max"`` or ``"min"`` for ``ModelCheckpoint(mode=...)``; accepts namespaced names (``val/pesq``)."""
    return "max" if higher_is_better(name) else "min"


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    return names


def reference_columns(names: Iterable[str]) -> tuple[str, ...]:
    """``ref_<name>`` for each of ``names`` that needs no reference (DNSMOS), in order."""
    return tuple(REFERENCE_PREFIX + n for n in check_names(names) if not METRICS[n].needs_reference)


def compute_metrics(
    ref: AudioLike,
    deg: AudioLike,
    sample_rate: int,
    names: Iterable[str] = DEFAULT_METRICS,
    options: MetricOptions | None = None,
) -> dict[str, float]:
    """Runs the named metrics on one pair; returns ``{name: value}`` in the order asked.

    ``ref``/``deg``: mono ``(T,)`` arrays or tensors at ``sample_rate``, trimmed to the shorter.
    ``options``: the CREPE model and device (:class:`MetricOptions`; default the paper's "full").
    Metrics that cannot be computed on a pair (e.g. PESQ without speech) come back as NaN.
    """
    names = check_names(names)
    opts = options or MetricOptions()
    r, d = paired_numpy(ref, deg)
    grouped: dict[str, float] = {}
    for group in dict.fromkeys(METRICS[n].group for n in names if METRICS[n].group):
        grouped.update(GROUPS[group](r, d, sample_rate, opts))
    return {
        n: float(grouped[n]) if METRICS[n].group else float(METRICS[n].fn(r, d, sample_rate)) for n in names
    }


def reference_scores(
    ref: AudioLike, sample_rate: int, names: Iterable[str], options: MetricOptions | None = None
) -> dict[str, float]:
    """The reference-free metrics among ``names`` scored on ``ref`` itself, as ``{ref_<name>: value}``."""
    wanted = [c.removeprefix(REFERENCE_PREFIX) for c in reference_columns(names)]
    if not wanted:
        return {}
    r = to_numpy(ref, "ref")
    opts = options or MetricOptions()
    scores: dict[str, float] = {}
    for group in dict.fromkeys(METRICS[n].group for n in wanted):
        scores.update(GROUPS[group](None, r, sample_rate, opts))
    return {REFERENCE_PREFIX + n: float(scores[n]) for n in wanted}

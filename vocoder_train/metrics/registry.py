"""Which metrics exist, which way is better, and :func:`compute_metrics` to run several at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vocoder_train.metrics._common import AudioLike, paired_numpy
from vocoder_train.metrics.perceptual import pesq_wb, si_sdr, stoi
from vocoder_train.metrics.pitch import pitch_metrics
from vocoder_train.metrics.spectral import mel_l1_distance, mrstft_distance


@dataclass(frozen=True)
class MetricSpec:
    """name: key in results and logs; higher_is_better: direction for checkpoint selection;
    fn(ref, deg, sample_rate) -> float, or None for the pitch group (computed together)."""

    name: str
    higher_is_better: bool
    fn: Callable[[AudioLike, AudioLike, int], float] | None
    description: str


_PITCH = ("periodicity", "vuv_f1", "pitch_cents")  # share one pair of YIN tracks

METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("mel_l1", False, mel_l1_distance, "log-mel L1 distance (Vocos' mel_loss)"),
        MetricSpec("mrstft", False, lambda r, d, sr: mrstft_distance(r, d), "multi-resolution STFT distance"),
        MetricSpec("pesq", True, pesq_wb, "wide-band PESQ (MOS-LQO)"),
        MetricSpec("stoi", True, stoi, "short-time objective intelligibility"),
        MetricSpec("si_sdr", True, lambda r, d, sr: si_sdr(r, d), "scale-invariant SDR, dB"),
        MetricSpec("periodicity", False, None, "RMSE of YIN periodicity curves"),
        MetricSpec("vuv_f1", True, None, "F1 of voiced/unvoiced decisions"),
        MetricSpec("pitch_cents", False, None, "f0 RMSE in cents on frames voiced in both"),
    )
}

DEFAULT_METRICS = ("mel_l1", "mrstft", "pesq", "stoi", "si_sdr", "periodicity", "vuv_f1")
# computed only every validation.slow_every validations in training: each costs CPU seconds per item
SLOW_METRICS = frozenset({"pesq", "stoi", "periodicity", "vuv_f1", "pitch_cents"})
HIGHER_IS_BETTER: dict[str, bool] = {k: s.higher_is_better for k, s in METRICS.items()}


def metric_mode(name: str) -> str:
    """``"max"`` or ``"min"`` for ``ModelCheckpoint(mode=...)``; accepts namespaced names (``val/pesq``)."""
    key = name.rsplit("/", 1)[-1]
    if key not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return "max" if METRICS[key].higher_is_better else "min"


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    return names


def compute_metrics(
    ref: AudioLike, deg: AudioLike, sample_rate: int, names: Iterable[str] = DEFAULT_METRICS
) -> dict[str, float]:
    """Runs the named metrics on one pair; returns ``{name: value}`` in the order asked.

    ``ref``/``deg``: mono ``(T,)`` arrays or tensors at ``sample_rate``, trimmed to the shorter.
    Metrics that cannot be computed on a pair (e.g. PESQ without speech) come back as NaN.
    """
    names = check_names(names)
    r, d = paired_numpy(ref, deg)
    out: dict[str, float] = {}
    pitch = pitch_metrics(r, d, sample_rate) if any(n in _PITCH for n in names) else {}
    for n in names:
        out[n] = float(pitch[n]) if n in _PITCH else float(METRICS[n].fn(r, d, sample_rate))
    return out

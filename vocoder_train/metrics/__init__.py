"""Objective metrics for vocoders, usable in validation and on their own.

Every metric takes a reference and a degraded/generated signal as mono ``(T,)`` numpy arrays
or tensors (trimmed to the shorter of the two) plus, where it matters, the sample rate.
:func:`compute_metrics` runs several; :data:`HIGHER_IS_BETTER` / :func:`metric_mode` say which
direction is better; :class:`MetricAccumulator` averages them across DDP ranks.
"""

from vocoder_train.metrics.accumulator import MetricAccumulator
from vocoder_train.metrics.perceptual import pesq_wb, si_sdr, stoi
from vocoder_train.metrics.pitch import PitchTrack, periodicity_error, pitch_error, pitch_metrics, vuv_f1, yin
from vocoder_train.metrics.registry import (
    DEFAULT_METRICS,
    HIGHER_IS_BETTER,
    METRICS,
    MetricSpec,
    compute_metrics,
    metric_mode,
)
from vocoder_train.metrics.spectral import mel_l1_distance, mrstft_distance

__all__ = [
    "DEFAULT_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "MetricAccumulator",
    "MetricSpec",
    "PitchTrack",
    "compute_metrics",
    "mel_l1_distance",
    "metric_mode",
    "mrstft_distance",
    "periodicity_error",
    "pesq_wb",
    "pitch_error",
    "pitch_metrics",
    "si_sdr",
    "stoi",
    "vuv_f1",
    "yin",
]

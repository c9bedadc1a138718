"""Objective metrics for vocoders, usable in validation and on their own.

Every metric takes a reference and a degraded/generated signal as mono ``(T,)`` numpy arrays
or tensors (trimmed to the shorter of the two) plus, where it matters, the sample rate.
:func:`compute_metrics` runs several; :data:`HIGHER_IS_BETTER` / :func:`metric_mode` say which
direction is better; :class:`MetricAccumulator` averages them across DDP ranks.
Pitch: the Vocos paper's CREPE metrics (:mod:`.crepe`) and fast YIN stand-ins (:mod:`.pitch`);
DNSMOS (:mod:`.dnsmos`) needs no reference. :mod:`.bigvgan`: the BigVGAN papers' metric set
(sony/bigvsan_eval: M-STFT, int16 PESQ, MCD, CARGAN's periodicity and V/UV F1);
:data:`~.registry.PROTOCOLS` names each published set.
"""

from vocoder_train.metrics.accumulator import MetricAccumulator
from vocoder_train.metrics.crepe import crepe_metrics, crepe_track
from vocoder_train.metrics.dnsmos import dnsmos
from vocoder_train.metrics.perceptual import pesq_wb, si_sdr, stoi
from vocoder_train.metrics.pitch import (
    PitchTrack,
    periodicity_yin,
    pitch_cents_yin,
    track_metrics,
    vuv_f1_yin,
    yin,
    yin_metrics,
)
from vocoder_train.metrics.registry import (
    DEFAULT_METRICS,
    EVALUATE_METRICS,
    HIGHER_IS_BETTER,
    METRICS,
    MetricOptions,
    MetricSpec,
    compute_metrics,
    metric_mode,
    reference_scores,
)
from vocoder_train.metrics.spectral import mel_l1_distance, mrstft_distance

__all__ = [
    "DEFAULT_METRICS",
    "EVALUATE_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "MetricAccumulator",
    "MetricOptions",
    "MetricSpec",
    "PitchTrack",
    "compute_metrics",
    "crepe_metrics",
    "crepe_track",
    "dnsmos",
    "mel_l1_distance",
    "metric_mode",
    "mrstft_distance",
    "periodicity_yin",
    "pesq_wb",
    "pitch_cents_yin",
    "reference_scores",
    "si_sdr",
    "stoi",
    "track_metrics",
    "vuv_f1_yin",
    "yin",
    "yin_metrics",
]

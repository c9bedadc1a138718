"""Which metrics exist, which way is better, and :func:`compute_metrics` to run several at once.

Some metrics come in groups computed from one analysis (one pair of CREPE tracks gives
``periodicity``, ``vuv_f1`` and ``pitch_cents``); asking for any of a group computes the group
once. DNSMOS needs no reference: :func:`reference_scores` gives the reference's own values, as
``ref_<name>``, to stand beside the generated audio's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vocoder_train.metrics import bigvgan
from vocoder_train.metrics._common import AudioLike, paired_numpy, to_numpy
from vocoder_train.metrics.crepe import check_model
from vocoder_train.metrics.perceptual import pesq_wb, si_sdr, stoi
from vocoder_train.metrics.spectral import mel_l1_distance, mrstft_distance

REFERENCE_PREFIX = "ref_"  # column of a reference-free metric scored on the reference itself


@dataclass(frozen=True)
class MetricSpec:
    """name: key in results and logs; higher_is_better: direction for checkpoint selection;
    fn(ref, deg, sample_rate) -> float, or None for a metric computed with its ``group``;
    needs_reference: False for metrics that score the generated signal alone (DNSMOS);
    support: per-file counts the group also returns, from which ``pool(rows)`` gives the figure over
    every frame of every file that a protocol reports instead of the mean of the files' values."""

    name: str
    higher_is_better: bool
    fn: Callable[[AudioLike, AudioLike, int], float] | None
    description: str
    group: str | None = None
    needs_reference: bool = True
    support: tuple[str, ...] = ()
    pool: Callable[[Sequence[dict]], float] | None = None


@dataclass(frozen=True)
class MetricOptions:
    """crepe_model: "full" (the Vocos paper's) or "tiny" (much faster on a CPU, scores differ);
    device: where CREPE runs (None: the GPU when there is one); crepe_note: why this model, for reports
    (e.g. that it is the CPU default)."""

    crepe_model: str = "full"
    device: str | None = None
    crepe_note: str = ""

    def __post_init__(self) -> None:
        check_model(self.crepe_model)


def _crepe_group(r: np.ndarray, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    from vocoder_train.metrics.crepe import crepe_metrics

    return crepe_metrics(r, d, sr, opts.crepe_model, opts.device)


def _yin_group(r: np.ndarray, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    from vocoder_train.metrics.pitch import yin_metrics

    return {f"{k}_yin": v for k, v in yin_metrics(r, d, sr).items()}


def _mcd_group(r: np.ndarray, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    return bigvgan.mcd(r, d, sr)


def _cargan_group(r: np.ndarray, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    return bigvgan.cargan_metrics(r, d, sr, opts.crepe_model, opts.device)


def _dnsmos_group(r: np.ndarray | None, d: np.ndarray, sr: int, opts: MetricOptions) -> dict[str, float]:
    from vocoder_train.metrics.dnsmos import dnsmos

    return dnsmos(d, sr)


GROUPS: dict[str, Callable[..., dict[str, float]]] = {
    "crepe": _crepe_group,
    "yin": _yin_group,
    "dnsmos": _dnsmos_group,
    "mcd": _mcd_group,
    "cargan": _cargan_group,
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
        MetricSpec("mstft_bigvgan", False, bigvgan.mstft, "M-STFT, auraloss defaults (the BigVGAN paper's)"),
        MetricSpec(
            "pesq_bigvgan", True, bigvgan.pesq_int16, "wide-band PESQ of int16 audio (the BigVGAN paper's)"
        ),
        MetricSpec(
            "mcd_bigvgan",
            False,
            None,
            "mel-cepstral distortion, dB, DTW-aligned (the BigVGAN paper's)",
            "mcd",
            support=bigvgan.SUPPORT["mcd_bigvgan"],
            pool=bigvgan.pooled_mcd,
        ),
        MetricSpec(
            "periodicity_bigvgan",
            False,
            None,
            "RMSE of CREPE periodicity, CARGAN's way (the BigVGAN paper's)",
            "cargan",
            support=bigvgan.SUPPORT["periodicity_bigvgan"],
            pool=bigvgan.pooled_periodicity,
        ),
        MetricSpec(
            "vuv_f1_bigvgan",
            True,
            None,
            "F1 of CREPE voiced/unvoiced decisions, CARGAN's way (the BigVGAN paper's)",
            "cargan",
            support=bigvgan.SUPPORT["vuv_f1_bigvgan"],
            pool=bigvgan.pooled_vuv_f1,
        ),
    )
}

# validation.metrics' choices and vocoder-evaluate's defaults
DEFAULT_METRICS = ("mel_l1", "mrstft", "pesq", "stoi", "si_sdr", "periodicity", "vuv_f1")
DNSMOS_METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
EVALUATE_METRICS = DEFAULT_METRICS + DNSMOS_METRICS
BIGVGAN_METRICS = ("mstft_bigvgan", "pesq_bigvgan", "mcd_bigvgan", "periodicity_bigvgan", "vuv_f1_bigvgan")
# vocoder-evaluate --protocol: the metric set a published table is made with (docs/guide-inference.md)
PROTOCOLS: dict[str, tuple[str, ...]] = {"vocos": EVALUATE_METRICS, "bigvgan": BIGVGAN_METRICS}
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
        *BIGVGAN_METRICS,
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
    support: bool = False,
) -> dict[str, float]:
    """Runs the named metrics on one pair; returns ``{name: value}`` in the order asked.

    ``ref``/``deg``: mono ``(T,)`` arrays or tensors at ``sample_rate``, trimmed to the shorter.
    ``options``: the CREPE model and device (:class:`MetricOptions`; default the paper's "full").
    ``support``: also return the per-file counts (:func:`support_columns`) that :func:`pooled_figures`
    pools. Metrics that cannot be computed on a pair (e.g. PESQ without speech) come back as NaN.
    """
    names = check_names(names)
    opts = options or MetricOptions()
    r, d = paired_numpy(ref, deg)
    grouped: dict[str, float] = {}
    for group in dict.fromkeys(METRICS[n].group for n in names if METRICS[n].group):
        grouped.update(GROUPS[group](r, d, sample_rate, opts))
    out = {
        n: float(grouped[n]) if METRICS[n].group else float(METRICS[n].fn(r, d, sample_rate)) for n in names
    }
    if support:
        out.update({c: grouped[c] for c in support_columns(names)})
    return out


def support_columns(names: Iterable[str]) -> tuple[str, ...]:
    """The per-file counts the pooled figures of ``names`` need, in order, each once."""
    return tuple(dict.fromkeys(c for n in check_names(names) for c in METRICS[n].support))


def pooled_figures(names: Iterable[str], rows: Sequence[dict]) -> dict[str, float]:
    """``{name: figure}`` for each of ``names`` that a protocol pools over every frame of every file,
    from ``rows`` holding the per-file values and their :func:`support_columns`."""
    return {n: float(METRICS[n].pool(rows)) for n in check_names(names) if METRICS[n].pool}


def check_protocol(protocol: str) -> tuple[str, ...]:
    """The metrics of ``protocol`` (:data:`PROTOCOLS`); ValueError naming the choices otherwise."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} (--protocol): choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]


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

"""How an evaluation's numbers were made, in words for its reports: each metric's settings and the
engine each model decoded with.

A report made with ``--crepe-model tiny`` or with another engine must not read like one made with
the defaults: :func:`describe_metrics` names the CREPE model and device, the rates each metric runs
at and its analysis settings, from the constants and defaults of :mod:`vocoder_train.metrics`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from vocoder_train.metrics import crepe, perceptual, pitch
from vocoder_train.metrics.dnsmos import DNSMOS_RATE
from vocoder_train.metrics.registry import METRICS, MetricOptions
from vocoder_train.metrics.spectral import mel_l1_distance, mrstft_distance


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def _crepe_line(options: MetricOptions) -> str:
    device = options.device or str(crepe.default_device())
    paper = "the Vocos paper's" if options.crepe_model == "full" else "not comparable with published figures"
    return (
        f"torchcrepe model {options.crepe_model} ({paper}) on {device}, both signals at "
        f"{crepe.CREPE_RATE} Hz, f0 {crepe.FMIN:g}-{crepe.FMAX:g} Hz, hop {crepe.HOP_LENGTH} samples, "
        f"{crepe.WINDOW}-sample windows, Viterbi decoding, voiced at periodicity >= "
        f"{crepe.UNVOICED_THRESHOLD:g}, frames below {crepe.SILENCE_DB:g} dB silent"
    )


def _group_lines(options: MetricOptions) -> dict[str, str]:
    """What each metric (or group of metrics computed together) was computed with."""
    n_fft, hop, mels = (_default(mel_l1_distance, k) for k in ("n_fft", "hop_length", "n_mels"))
    resolutions = ", ".join(f"{n}/{h}/{w}" for n, h, w in _default(mrstft_distance, "resolutions"))
    return {
        "mel_l1": f"log-mel L1 at the model's rate, n_fft {n_fft}, hop {hop}, {mels} mels",
        "mrstft": f"multi-resolution STFT distance at the model's rate, n_fft/hop/window {resolutions}",
        "pesq": f"wide-band PESQ (P.862.2) at {perceptual.PESQ_SAMPLE_RATE} Hz",
        "stoi": f"STOI at {perceptual.STOI_SAMPLE_RATE} Hz",
        "si_sdr": f"scale-invariant SDR at the model's rate, capped at {perceptual.SI_SDR_MAX_DB:g} dB",
        "crepe": _crepe_line(options),
        "yin": f"YIN pitch tracker at {pitch.PITCH_SAMPLE_RATE} Hz, {1000 * pitch.PITCH_HOP_S:g} ms hop "
        "(milliseconds, not comparable with papers)",
        "dnsmos": f"DNSMOS P.835 and P.808 (speechmos' ONNX models) at {DNSMOS_RATE} Hz, "
        "no reference; the reference scored the same way",
    }


def describe_metrics(names: Sequence[str], options: MetricOptions | None = None) -> list[str]:
    """One line per metric, or per group of metrics computed together, among ``names``:
    ``"periodicity, vuv_f1: torchcrepe model full ..."``."""
    lines = _group_lines(options or MetricOptions())
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(METRICS[n].group or n, []).append(n)
    return [f"{', '.join(members)}: {lines[key]}" for key, members in groups.items()]


def describe_engine(model) -> str:
    """What decodes ``model`` (a :class:`~vocoder_train.models.vocoder.Vocoder`, a baseline with a
    ``description``, or any resynthesizer): the model kind and, for PyTorch weights, the engine."""
    description = getattr(model, "description", None)
    if description:
        return str(description)
    kind, engine = getattr(model, "kind", None), getattr(model, "engine", None)
    if engine:
        note = getattr(model, "engine_note", "")
        return f"{kind} weights, engine {engine}" + (f" ({note})" if note else "")
    runtimes = {
        "onnx": "ONNX Runtime",
        "onnx-stream": "ONNX Runtime, streaming step",
        "torchscript": "TorchScript",
    }
    return runtimes.get(kind, kind) if kind else type(model).__name__

"""How an evaluation's numbers were made, in words for its reports: the protocol, each metric's settings
(pitch tracker and model, rates, resampling kernel), the versions of the packages that computed them,
and the engine each model decoded with.

A report made with ``--crepe-model tiny`` or with another engine must not read like one made with
the defaults: :func:`describe_metrics` names the CREPE model and device, the rates each metric runs
at, how the signals were resampled and the analysis settings, from the constants and defaults of
:mod:`vocoder_train.metrics`; :func:`package_versions` the versions, :func:`describe_protocol` the
protocol and how its figures are pooled.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from importlib import metadata

from vocoder_train.io.audio import RESAMPLE_QUALITY
from vocoder_train.metrics import bigvgan, crepe, perceptual, pitch
from vocoder_train.metrics.dnsmos import DNSMOS_RATE
from vocoder_train.metrics.registry import METRICS, MetricOptions, check_protocol
from vocoder_train.metrics.spectral import mel_l1_distance, mrstft_distance

# what computes the metrics, by the metric groups that use each (None: recorded in every report, so
# that any two reports can be checked for the versions behind their default metrics)
PACKAGES = {
    "torch": None,
    "torchaudio": None,
    "torchcrepe": None,
    "pesq": None,
    "speechmos": None,
    "pystoi": ("stoi",),
    "auraloss": ("mstft_bigvgan",),
    "pysptk": ("mcd",),
    "fastdtw": ("mcd",),
}


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def resampling(quality: str) -> str:
    """The resampling kernel :func:`vocoder_train.io.audio.resample` uses for ``quality``, in words."""
    k = RESAMPLE_QUALITY[quality]
    return (
        f"resampled with torchaudio's {k['resampling_method']} kernel, {k['lowpass_filter_width']} zero "
        f"crossings, rolloff {k['rolloff']:.4g}"
    )


def _crepe_model(options: MetricOptions, paper: str) -> str:
    """``torchcrepe model M (why) on DEVICE``; ``paper``: whose figures the full model gives."""
    why = paper if options.crepe_model == "full" else "not comparable with published figures"
    note = f"{options.crepe_note}; " if options.crepe_note else ""
    return (
        f"torchcrepe model {options.crepe_model} ({note}{why}) on {options.device or crepe.default_device()}"
    )


def _crepe_line(options: MetricOptions) -> str:
    model = _crepe_model(options, "the Vocos paper's")
    return (
        f"{model}, both signals at "
        f"{crepe.CREPE_RATE} Hz ({resampling('torchaudio_default')}), f0 {crepe.FMIN:g}-{crepe.FMAX:g} Hz, "
        f"hop {crepe.HOP_LENGTH} samples, {crepe.WINDOW}-sample windows, Viterbi decoding, voiced at "
        f"periodicity >= {crepe.UNVOICED_THRESHOLD:g}, frames below {crepe.SILENCE_DB:g} dB silent"
    )


def _bigvgan_lines(options: MetricOptions) -> dict[str, str]:
    kernel = resampling(bigvgan.RESAMPLING)
    model = _crepe_model(options, "the BigVGAN paper's")
    return {
        "mstft_bigvgan": f"auraloss MultiResolutionSTFTLoss() defaults at {bigvgan.BIGVGAN_RATE} Hz "
        "(FFT 1024/2048/512, hop 120/240/50, Hann 600/1200/240); mean over files",
        "pesq_bigvgan": f"wide-band PESQ at {bigvgan.PESQ_RATE} Hz ({kernel}) of int16 samples truncated "
        "toward zero; mean over files",
        "mcd": f"pysptk.mgcep order {bigvgan.MCD_ORDER} (c0 included), alpha {bigvgan.MCD_ALPHA:g}, "
        f"gamma {bigvgan.MCD_GAMMA:g} at {bigvgan.MCD_RATE} Hz ({kernel}), {bigvgan.MCD_FRAME}-sample "
        f"Blackman frames every {bigvgan.MCD_HOP}, fastdtw-aligned (Euclidean); pooled over every frame",
        "cargan": f"CARGAN's pitch: {model} at "
        f"{crepe.CREPE_RATE} Hz from {bigvgan.CARGAN_RATE} Hz ({kernel}), hop {bigvgan.CREPE_HOP}, "
        f"reflect padding {bigvgan.CREPE_PAD}, f0 {crepe.FMIN:g}-{crepe.FMAX:g} Hz, Viterbi decoding, "
        f"torchcrepe Silence ({bigvgan.SILENCE_DB:g} dB), interpolated to {bigvgan.CARGAN_HOP}-sample "
        "frames at 22.05 kHz, voiced by torchcrepe Hysteresis; pooled over every frame",
    }


def _group_lines(options: MetricOptions) -> dict[str, str]:
    """What each metric (or group of metrics computed together) was computed with."""
    n_fft, hop, mels = (_default(mel_l1_distance, k) for k in ("n_fft", "hop_length", "n_mels"))
    resolutions = ", ".join(f"{n}/{h}/{w}" for n, h, w in _default(mrstft_distance, "resolutions"))
    return {
        "mel_l1": f"log-mel L1 at the model's rate, n_fft {n_fft}, hop {hop}, {mels} mels",
        "mrstft": f"multi-resolution STFT distance at the model's rate, n_fft/hop/window {resolutions}",
        "pesq": f"wide-band PESQ (P.862.2) at {perceptual.PESQ_SAMPLE_RATE} Hz ({resampling('high')})",
        "stoi": f"STOI at {perceptual.STOI_SAMPLE_RATE} Hz ({resampling('high')})",
        "si_sdr": f"scale-invariant SDR at the model's rate, capped at {perceptual.SI_SDR_MAX_DB:g} dB",
        "crepe": _crepe_line(options),
        "yin": f"YIN pitch tracker at {pitch.PITCH_SAMPLE_RATE} Hz ({resampling('high')}), "
        f"{1000 * pitch.PITCH_HOP_S:g} ms hop (milliseconds, not comparable with papers)",
        "dnsmos": f"DNSMOS P.835 and P.808 (speechmos' ONNX models) at {DNSMOS_RATE} Hz "
        f"({resampling('high')}), no reference; the reference scored the same way",
        **_bigvgan_lines(options),
    }


def describe_metrics(names: Sequence[str], options: MetricOptions | None = None) -> list[str]:
    """One line per metric, or per group of metrics computed together, among ``names``:
    ``"periodicity, vuv_f1: torchcrepe model full ..."``."""
    lines = _group_lines(options or MetricOptions())
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(METRICS[n].group or n, []).append(n)
    return [f"{', '.join(members)}: {lines[key]}" for key, members in groups.items()]


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """``{package: version}`` of what computes the metrics among ``names``, and always of torch, torchaudio,
    torchcrepe, pesq and speechmos."""
    groups = {METRICS[n].group or n for n in names}
    out = {}
    for package, used_by in PACKAGES.items():
        if used_by is None or groups & set(used_by):
            try:
                out[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                out[package] = "not installed"
    return out


def describe_protocol(protocol: str, names: Sequence[str]) -> str:
    """The protocol line of a report: its name, whether ``names`` are its metrics, how figures pool."""
    own = check_protocol(protocol)
    which = (
        "its metrics" if tuple(names) == own else f"metrics chosen with --metrics (its own: {', '.join(own)})"
    )
    pooled = [n for n in names if METRICS[n].pool]
    pooling = (
        f"; {', '.join(pooled)}: the protocol's figure pools every frame of every file (column pooled), "
        "the mean is over per-file values"
        if pooled
        else "; figures are means over files"
    )
    source = {"vocos": "the Vocos paper's", "bigvgan": "sony/bigvsan_eval's evaluate.py (BigVGAN, BigVSAN)"}
    return f"protocol {protocol} ({source.get(protocol, protocol)}), {which}{pooling}"


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

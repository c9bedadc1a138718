"""int8 ONNX exports: ONNX Runtime quantization of the ``onnx`` graph, kept only when its quality holds.

    export("runs/demo/checkpoints/last.ckpt", "exported/int8", "onnx", quantize=QuantizeSettings())

:func:`quantize_export` turns the checked fp32 ``generator.onnx`` that
:func:`~vocoder_train.models.export_formats.write_onnx` wrote into an int8 one, in place:

* what is quantized: the backbone's ``MatMul`` nodes (the ConvNeXt blocks' pointwise layers), int8
  weights; its convolutions stay fp32 (``ConvInteger`` measured slower than fp32 and farther from it).
  The head's output projection (``/out/MatMul``) and every node after it (magnitude and phase, and the
  ISTFT of :class:`~vocoder_train.models.inference.exportable.RealISTFT`: a DFT basis and an
  overlap-add ``ConvTranspose``) stay fp32: they are found in the graph by the ``/out/`` scope of
  :class:`~vocoder_train.models.inference.exportable.ExportableVocos` and everything downstream of it.
* ``dynamic`` (the default): activations quantized per call from their own range; needs no data.
  ``static``: activation ranges calibrated (min/max) on mels of training files, QDQ format.
  ``docs/results/2026-12-06-deployment.md`` gives the measurements that chose the default.
* the quality gate: the fp32 and the int8 graph decode the mels of validation files (the
  checkpoint's ``data.val`` unless ``quality_data`` names others); mel L1 and wide-band PESQ against the
  recorded audio (:mod:`vocoder_train.metrics`), and the largest absolute difference between the two
  graphs' audio. A PESQ drop over ``max_pesq_drop`` or a mel L1 rise over ``max_mel_l1_rise`` raises
  :class:`QualityGateError` (the caller publishes nothing) unless ``force_quality``.
* speed: both graphs in a one-thread ONNX Runtime session on the same mels, alternated, timed in
  thread CPU seconds (:func:`decode_seconds`).

The int8 graph keeps the fp32 graph's inputs and outputs, so
:func:`~vocoder_train.models.vocoder.load_vocoder` and ``vocoder-synthesize`` run it as any ``onnx`` export.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vocoder_train.models.export import ExportError
from vocoder_train.models.store import MODEL_FILES, model_kind

METHODS = ("dynamic", "static")
DEFAULT_METHOD = "dynamic"  # measured faster than static and closer to fp32 (docs/results/)
MAX_PESQ_DROP = 0.1  # PESQ points (MOS-LQO) the int8 graph may lose against the fp32 one, mean over files
MAX_MEL_L1_RISE = 0.02  # and how much its mean log-mel L1 may grow
QUALITY_FILES = 8  # validation files the gate scores (the first ones of the list)
CALIBRATION_FILES = 16  # training files whose mels calibrate static quantization
CALIBRATION_SECONDS = 4.0  # each cut to this length
TIMING_ROUNDS = 5  # fp32 and int8 decode every gate file this many times, alternated
QUANTIZED_OPS = ("MatMul",)  # measured: adding Conv (ConvInteger) made the graph slower and farther from fp32
GATE_METRICS = ("mel_l1", "pesq")
HEAD_SCOPE = "/out/"  # ExportableVocos.out: the head's output projection, the first node kept fp32


class QualityGateError(ExportError):
    """The int8 graph lost more quality than the thresholds allow. Nothing was written."""


@dataclass
class QuantizeSettings:
    """How ``vocoder-export -f onnx --quantize int8`` quantizes and what it accepts.

    Args:
        method (str): "dynamic" or "static" (:data:`METHODS`).
        calibration (str | Path | None): static: manifest, filelist or folder of audio whose mels calibrate
            the activation ranges; default the checkpoint's training list.
        quality_data (str | Path | None): the gate's files; default the checkpoint's validation list.
        max_pesq_drop (float): largest allowed drop of the mean PESQ, fp32 graph -> int8 graph.
        max_mel_l1_rise (float): largest allowed rise of the mean mel L1.
        force_quality (bool): write the int8 graph whatever the gate measures.
        files (int): how many gate files are scored.
    """

    method: str = DEFAULT_METHOD
    calibration: str | Path | None = None
    quality_data: str | Path | None = None
    max_pesq_drop: float = MAX_PESQ_DROP
    max_mel_l1_rise: float = MAX_MEL_L1_RISE
    force_quality: bool = False
    files: int = QUALITY_FILES


@dataclass
class QuantizeReport:
    """What :func:`quantize_export` measured: per graph ("fp32", "int8") the mean scores and the one-thread
    real-time factor (decode seconds per audio second), over ``files`` files of ``data``."""

    method: str
    data: str
    files: int
    scores: dict[str, dict[str, float]]
    rtf: dict[str, float]
    bytes: dict[str, int]
    max_abs_diff: float
    quantized_nodes: int
    fp32_nodes: list[str] = field(default_factory=list)
    forced: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.rtf["fp32"] / self.rtf["int8"]

    @property
    def pesq_drop(self) -> float:
        return self.scores["fp32"]["pesq"] - self.scores["int8"]["pesq"]

    @property
    def mel_l1_rise(self) -> float:
        return self.scores["int8"]["mel_l1"] - self.scores["fp32"]["mel_l1"]

    def lines(self) -> list[str]:
        """The measurements in words, one per line."""
        f, q = self.scores["fp32"], self.scores["int8"]
        return [
            f"int8 ({self.method}): {self.quantized_nodes} MatMul nodes quantized; fp32 kept for "
            f"{len(self.fp32_nodes)} nodes from the head's output projection on (ISTFT included); "
            f"{self.bytes['fp32'] / 1e6:.1f} MB -> {self.bytes['int8'] / 1e6:.1f} MB",
            f"speed (one-thread ONNX Runtime, thread CPU time): real-time factor fp32 "
            f"{self.rtf['fp32']:.4f}, int8 {self.rtf['int8']:.4f}: x{self.speedup:.2f}",
            f"quality on {self.files} files of {self.data}: PESQ {f['pesq']:.3f} -> {q['pesq']:.3f} "
            f"(drop {self.pesq_drop:+.3f}), mel L1 {f['mel_l1']:.4f} -> {q['mel_l1']:.4f} "
            f"(rise {self.mel_l1_rise:+.4f}), max abs diff fp32 vs int8 audio {self.max_abs_diff:.3e}",
        ]


# -- the graph --------------------------------------------------------------------------------


def fp32_nodes(model) -> list[str]:
    """Names of the nodes that stay fp32: the head's output projection (scope ``/out/``) and every node
    that consumes, directly or not, what it computes (magnitude, phase, the ISTFT)."""
    heads = [n for n in model.graph.node if n.name.startswith(HEAD_SCOPE)]
    if not heads:
        raise ExportError(
            f"no node named {HEAD_SCOPE}* in the ONNX graph: it was not written by write_onnx "
            "(ExportableVocos), so the head and ISTFT cannot be kept fp32"
        )
    tainted = {o for n in heads for o in n.output}
    keep = [n.name for n in heads]
    for node in model.graph.node:  # the graph is topologically sorted
        if node.name not in keep and any(i in tainted for i in node.input):
            keep.append(node.name)
            tainted.update(node.output)
    return keep


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ExportError(f"int8 method {method!r}: choose one of {', '.join(METHODS)}")


class _MelReader:
    """onnxruntime's ``CalibrationDataReader``: one ``{input: mel}`` per calibration file."""

    def __init__(self, name: str, mels: Sequence[torch.Tensor]):
        self.feeds = iter([{name: m.float().numpy()} for m in mels])

    def get_next(self):
        return next(self.feeds, None)


def quantize_graph(
    fp32: Path, int8: Path, method: str, calibration_mels: Sequence[torch.Tensor] = ()
) -> tuple[int, list[str]]:
    """Writes the int8 form of ``fp32`` to ``int8``; returns (nodes quantized, nodes kept fp32)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    model = onnx.load(str(fp32))
    keep = fp32_nodes(model)
    targets = [n.name for n in model.graph.node if n.op_type in QUANTIZED_OPS and n.name not in keep]
    common = {"op_types_to_quantize": list(QUANTIZED_OPS), "nodes_to_exclude": keep}
    check_method(method)
    if method == "static" and not calibration_mels:
        raise ExportError("static int8 quantization needs calibration mels; none were given")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime logs "consider pre-processing" (shape inference) at WARNING
    try:
        if method == "dynamic":
            quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, **common)
        else:
            quantize_static(
                fp32,
                int8,
                _MelReader(model.graph.input[0].name, calibration_mels),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,  # the u8 x s8 kernels of x86 and ARM
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                **common,
            )
    finally:
        root.setLevel(level)
    return len(targets), keep


# -- the data ---------------------------------------------------------------------------------


def data_list(source: str | Path, split: str, given: str | Path | None, option: str) -> str:
    """``given``, or the ``data.<split>`` list of the training checkpoint ``source``; a clear error when
    neither exists."""
    if given is not None:
        return str(given)
    from vocoder_train.io.checkpoint import load_checkpoint

    kind, file = model_kind(source)
    data = {}
    if kind == "checkpoint":
        data = (load_checkpoint(file).get("vocoder_train") or {}).get("config", {}).get("data") or {}
    listed = data.get(split)
    if not listed or not Path(str(listed)).exists():
        why = (
            f"a {kind} holds no data lists; a training checkpoint does"
            if kind != "checkpoint"
            else f"its config's data.{split} is {listed or 'not set'}"
            + (", which does not exist" if listed else "")
        )
        raise ExportError(
            f"{source}: no {split} list for int8 quantization ({why}); pass {option} with a manifest, "
            "filelist or folder of audio"
        )
    return str(listed)


def file_mels(generator, sample_rate: int, paths: Sequence[str], seconds: float | None = None):
    """(audio (T,), mel (1, C, L)) of each file, mono at ``sample_rate``, cut to ``seconds`` if given."""
    from vocoder_train.io.audio import load_audio

    for path in paths:
        audio, _ = load_audio(path, sample_rate=sample_rate)
        if seconds:
            audio = audio[..., : int(seconds * sample_rate)]
        with torch.inference_mode():
            yield audio[0], generator.features(audio.float()).clone()


def _paths(data: str, count: int) -> list[str]:
    from vocoder_train.data.manifest import read_manifest

    return [item["path"] for item in read_manifest(data)][:count]


# -- measuring --------------------------------------------------------------------------------


def decode_seconds(
    sessions: dict, mels: Sequence[np.ndarray], rounds: int = TIMING_ROUNDS, clock=time.thread_time
):
    """Per session, the median over ``rounds`` of the seconds to decode every mel of ``mels``, the
    sessions alternated within each round; and each session's outputs (the untimed first pass). The
    default clock is this thread's CPU time: a one-thread session computes on the calling thread, so
    other processes on a shared machine do not count."""
    outs = {k: [s.run(None, {s.get_inputs()[0].name: m})[0] for m in mels] for k, s in sessions.items()}
    seconds: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(rounds):
        for k, s in sessions.items():
            name = s.get_inputs()[0].name
            t0 = clock()
            for m in mels:
                s.run(None, {name: m})
            seconds[k].append(clock() - t0)
    return {k: statistics.median(v) for k, v in seconds.items()}, outs


def compare_graphs(files: dict[str, Path], references, mels, sample_rate: int, rounds: int = TIMING_ROUNDS):
    """(mean scores per graph, real-time factor per graph, max abs diff between the first two graphs'
    audio) of ``files`` (name -> .onnx) decoding ``mels`` against ``references``; a metric's means are
    over the files every graph has a finite score for (PESQ gives NaN where it finds no utterance)."""
    from vocoder_train.metrics import compute_metrics
    from vocoder_train.models.graph_vocoders import onnx_session

    sessions = {k: onnx_session(f, threads=1) for k, f in files.items()}
    arrays = [m.float().numpy() for m in mels]
    seconds, outs = decode_seconds(sessions, arrays, rounds)
    audio_s = sum(r.shape[-1] for r in references) / sample_rate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a file PESQ cannot score gives NaN: left out below
        rows = {
            k: [compute_metrics(r, a[0], sample_rate, GATE_METRICS) for r, a in zip(references, audio)]
            for k, audio in outs.items()
        }
    scores: dict[str, dict[str, float]] = {k: {} for k in outs}
    for m in GATE_METRICS:
        values = np.array([[row[m] for row in rows[k]] for k in outs])  # (graphs, files)
        scored = np.isfinite(values).all(axis=0)  # every graph is averaged over the same files
        for k, v in zip(outs, values):
            scores[k][m] = float(v[scored].mean()) if scored.any() else math.nan
    first, second = list(outs)[:2]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(outs[first], outs[second]))
    return scores, {k: s / audio_s for k, s in seconds.items()}, diff


def gate_failures(report: QuantizeReport, settings: QuantizeSettings) -> list[str]:
    """The thresholds the report breaks, in words (NaN PESQ, no file scorable, leaves the mel L1 alone)."""
    out = []
    if math.isfinite(report.pesq_drop) and report.pesq_drop > settings.max_pesq_drop:
        out.append(
            f"PESQ {report.scores['fp32']['pesq']:.3f} -> {report.scores['int8']['pesq']:.3f}, drop "
            f"{report.pesq_drop:.3f} > --max-pesq-drop {settings.max_pesq_drop:g}"
        )
    if not report.mel_l1_rise <= settings.max_mel_l1_rise:
        out.append(
            f"mel L1 {report.scores['fp32']['mel_l1']:.4f} -> {report.scores['int8']['mel_l1']:.4f}, rise "
            f"{report.mel_l1_rise:.4f} > --max-mel-l1-rise {settings.max_mel_l1_rise:g}"
        )
    return out


def quantize_export(
    folder: Path, generator: torch.nn.Module, sample_rate: int, source: str | Path, settings: QuantizeSettings
) -> QuantizeReport:
    """Replaces ``folder``'s fp32 ``generator.onnx`` by its int8 form, after measuring both; raises
    :class:`QualityGateError` when the gate refuses it (``folder`` is left to the caller to remove)."""
    from vocoder_train.models.vocoder import load_vocoder

    check_method(settings.method)
    fe = generator.feature_extractor
    if getattr(generator, "conditions", 0) or not getattr(fe, "takes_audio", True):
        raise ExportError(
            "int8 quantization is for mel models: its gate decodes the mels of recorded audio; export this "
            "model in fp32 (-f onnx without --quantize)"
        )
    fp32, int8 = folder / MODEL_FILES["onnx"], folder / "generator.int8.onnx"
    calibration: list[torch.Tensor] = []
    if settings.method == "static":
        listed = data_list(source, "train", settings.calibration, "--calibration")
        calibration = [
            m
            for _, m in file_mels(
                generator, sample_rate, _paths(listed, CALIBRATION_FILES), CALIBRATION_SECONDS
            )
        ]
    quantized, keep = quantize_graph(fp32, int8, settings.method, calibration)
    data = data_list(source, "val", settings.quality_data, "--quality-data")
    pairs = list(file_mels(generator, sample_rate, _paths(data, settings.files)))
    scores, rtf, diff = compare_graphs(
        {"fp32": fp32, "int8": int8}, [a for a, _ in pairs], [m for _, m in pairs], sample_rate
    )
    report = QuantizeReport(
        settings.method,
        data,
        len(pairs),
        scores,
        rtf,
        {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size},
        diff,
        quantized,
        keep,
        forced=settings.force_quality,
    )
    report.failures = gate_failures(report, settings)
    if report.failures and not settings.force_quality:
        raise QualityGateError(
            f"int8 export refused, its quality dropped past the threshold: {'; '.join(report.failures)} "
            f"(mean over {len(pairs)} files of {data}); pass --force-quality to write it anyway"
        )
    int8.replace(fp32)
    mel = pairs[0][1]
    with torch.inference_mode():
        expected = generator.synthesize(mel).shape
    got = load_vocoder(folder).decode(mel)  # the project's own loader runs it, as vocoder-synthesize will
    if got.shape != expected or not torch.isfinite(got).all():
        raise ExportError(
            f"{fp32}: the int8 graph, loaded with load_vocoder, gives {tuple(got.shape)} for a mel of "
            f"{mel.shape[-1]} frames (expected {tuple(expected)}, finite)"
        )
    return report

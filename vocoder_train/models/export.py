"""The export procedure: a generator's weights -> one format's files, each checked before it is published.

The files of each format: :mod:`vocoder_train.models.export_formats`. Every export is written to a
temporary folder next to the output, reloaded and run on two mels (one from a synthetic signal, one
random with an odd frame count, so a frozen time axis is caught; ``onnx-stream`` by streaming them
in chunks of changing size); it is published (renamed to the output) only when its largest absolute
difference from the training model's ``synthesize(mel)`` is within the tolerance. The published
folder and files have the modes the process umask gives (e.g. 0755 / 0644 under umask 022).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from vocoder_train.io.checkpoint import apply_umask, load_checkpoint
from vocoder_train.models.causal import is_causal
from vocoder_train.models.export_formats import WRITERS, input_name, write_readme
from vocoder_train.models.inference.exportable import GRAPH_FORMATS, UnsupportedForExport, check_exportable
from vocoder_train.models.store import MODEL_FILES, read_weights
from vocoder_train.models.vocoder import load_vocoder

if TYPE_CHECKING:
    from vocoder_train.models.quantize import QuantizeReport, QuantizeSettings

STREAM_PROBE_CHUNKS = (1, 2, 3, 5, 8, 13)  # onnx-stream is checked by streaming in chunks of these sizes
FORMATS = tuple(WRITERS)
__all__ = ["FORMATS", "ExportError", "ExportResult", "OutputExists", "UnsupportedForExport", "export"]


class ExportError(RuntimeError):
    """The export could not be written or failed its check. Nothing was left in the output folder."""


class OutputExists(ExportError):
    """The output path is taken: ``replaceable`` when it is a non-empty folder that ``force`` replaces,
    false when it is not a folder."""

    def __init__(self, message: str, replaceable: bool):
        super().__init__(message)
        self.replaceable = replaceable


@dataclass
class ExportResult:
    """What :func:`export` wrote and measured."""

    format: str
    output: Path
    files: list[str]
    parameters: int
    sample_rate: int
    max_abs_diff: float
    tolerance: float
    probe_frames: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    probes: str = "mels"  # what the check ran on: "mels", or "stand-in features" (precomputed features)
    quantization: QuantizeReport | None = None  # -f onnx --quantize int8: what the quality gate measured


# -- probe inputs -----------------------------------------------------------------------------


def probe_mels(generator: torch.nn.Module, sample_rate: int, seed: int = 0) -> list[torch.Tensor]:
    """Two feature tensors (1, C, L): from 1 s of a synthetic voiced signal (for a generator that takes
    precomputed features, 1 s of stand-in ones), and random with odd L."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(sample_rate) / sample_rate
    f0 = 110 + 90 * t  # a glide, so every frame differs
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    audio = sum(0.25 / k * torch.sin(k * phase) for k in range(1, 8)) + 0.01 * torch.randn(
        t.shape, generator=g
    )
    fe = generator.feature_extractor
    if not getattr(fe, "takes_audio", True):
        real = fe.example(sample_rate // fe.hop_length, seed)
    else:
        last = generator.conditions - 1 if getattr(generator, "conditions", 0) else None
        with torch.inference_mode():
            real = generator.features(audio[None].float(), last).clone()
    rand = real.mean() + real.std() * torch.randn(1, real.shape[1], 37, generator=g)
    return [real, rand]


# -- verification -----------------------------------------------------------------------------


def verify(
    folder: Path,
    fmt: str,
    generator: torch.nn.Module,
    mels: Sequence[torch.Tensor],
    sherpa_form: str = "auto",
) -> float:
    """Reloads the export from ``folder`` and returns max |export(mel) - generator.synthesize(mel)|, over
    every conditioning id of a conditioned generator."""
    conditions = list(range(generator.conditions)) if getattr(generator, "conditions", 0) else [None]
    trim = 0
    if fmt == "sherpa-onnx":
        run, trim = _sherpa_runner(folder, generator, sherpa_form)
    elif fmt == "vocos":
        run = _load_with_vocos(folder, generator)
    elif fmt == "onnx-stream":
        from vocoder_train.models.inference.streaming import stream_decode

        vocoder = load_vocoder(folder, device="cpu")
        run = lambda mel: stream_decode(vocoder.stream(), mel, STREAM_PROBE_CHUNKS)  # noqa: E731
    else:
        vocoder = load_vocoder(folder, device="cpu", engine="eager")  # the exported weights as they are

        def run(mel, bandwidth_id=None):
            vocoder.condition = None if bandwidth_id is None else int(bandwidth_id)
            return vocoder.decode(mel)

    # upstream Vocos.decode runs backbone + head only: the generator's mel projection is vocoder_train's
    passes = getattr(generator, "mel_passes", 0)
    worst = 0.0
    for mel, condition in ((m, c) for m in mels for c in conditions):
        with torch.inference_mode():
            if fmt == "vocos":
                generator.mel_passes = 0
            try:
                ref = generator.synthesize(mel, condition).float()
            finally:
                if passes:
                    generator.mel_passes = passes
            out = (
                run(mel) if condition is None else run(mel, bandwidth_id=torch.tensor([condition]))
            ).float()
            ref = ref[..., trim : ref.shape[-1] - trim]  # sherpa-onnx's ISTFT leaves hop / 2 out at each end
        if out.shape != ref.shape:
            raise ExportError(
                f"{fmt} export gives shape {tuple(out.shape)} for {tuple(mel.shape)}; expected "
                f"{tuple(ref.shape)}"
            )
        worst = max(worst, (out - ref).abs().max().item())
    return worst


def _sherpa_runner(folder: Path, generator, form: str):
    """(mel -> audio as sherpa-onnx computes it, samples it leaves out at each end): ONNX Runtime runs the
    export; for the vocos form, the inverse STFT sherpa-onnx applies (kaldi-native-fbank's, which is
    ``torch.istft`` with a periodic Hann window and ``center=True``) follows."""
    from vocoder_train.models.export_formats import SHERPA_FILE
    from vocoder_train.models.graph_vocoders import onnx_session
    from vocoder_train.models.sherpa import sherpa_form, sherpa_trim

    session = onnx_session(folder / SHERPA_FILE)
    if sherpa_form(generator, form) == "hifigan":
        return (lambda mel: torch.from_numpy(session.run(None, {"mel": mel.float().numpy()})[0])), 0
    istft = generator.head.istft
    n_fft, hop = int(istft.n_fft), int(istft.hop_length)

    def run(mel):
        mag, x, y = (torch.from_numpy(a) for a in session.run(None, {"mel": mel.float().numpy()}))
        spec = torch.complex(mag * x, mag * y)
        return torch.istft(spec, n_fft, hop, n_fft, torch.hann_window(n_fft), center=True)

    return run, sherpa_trim(generator)


def _load_with_vocos(folder: Path, generator):
    """The contract of the vocos format: upstream ``Vocos.from_hparams`` + ``load_state_dict``, unchanged;
    for an EnCodec model, as ``Vocos.from_pretrained`` does it: vocos builds EnCodec from torch hub's cache
    (here a temporary one holding the generator's codec weights) and adds its weights to the state dict."""
    from vocos import Vocos

    state = load_checkpoint(folder / MODEL_FILES["vocos"])
    codec = getattr(generator.feature_extractor, "encodec", None)
    if codec is None:
        model = Vocos.from_hparams(str(folder / "config.yaml"))
    else:
        from vocoder_train.models.codec import torch_home_with_codec

        with torch_home_with_codec(codec):
            model = Vocos.from_hparams(str(folder / "config.yaml"))
        state.update(
            {
                f"feature_extractor.encodec.{k}": v
                for k, v in model.feature_extractor.encodec.state_dict().items()
            }
        )
    model.load_state_dict(state)
    return model.eval().decode


# -- atomic publishing ------------------------------------------------------------------------


def check_output(output: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise OutputExists(f"{output}: exists and is not a folder", replaceable=False)
    if output.is_dir() and any(output.iterdir()) and not force:
        raise OutputExists(f"{output}: exists and is not empty", replaceable=True)


def publish(tmp: Path, output: Path) -> None:
    """Renames ``tmp`` to ``output``; an existing ``output`` is moved aside first and removed after."""
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    os.replace(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export(
    source: str | Path,
    output: str | Path,
    fmt: str,
    *,
    ema: bool = False,
    opset: int = 17,
    force: bool = False,
    tolerance: float = 1e-4,
    sherpa_form: str = "auto",
    quantize: QuantizeSettings | None = None,
) -> ExportResult:
    """Writes ``fmt`` files for ``source`` into ``output`` after checking them (see the module docstring).
    ``sherpa_form``: for ``sherpa-onnx``, "auto" (its vocos form where the head allows it), "vocos" or
    "hifigan" (:mod:`vocoder_train.models.sherpa`). ``quantize`` (``onnx`` only): the checked fp32 graph
    becomes int8 and is published only when it passes the quality gate of
    :mod:`vocoder_train.models.quantize`, which replaces the fp32 check for it."""
    if fmt not in FORMATS:
        raise ExportError(f"{fmt!r} is not an export format; the formats are {', '.join(FORMATS)}")
    if quantize is not None and fmt != "onnx":
        raise ExportError(f"int8 quantization is for -f onnx; {fmt} is written in fp32 only")
    output = Path(output)
    check_output(output, force)
    weights = read_weights(source)
    generator, sample_rate, config = weights.build(ema=ema), weights.sample_rate, weights.config
    if fmt in GRAPH_FORMATS:
        check_exportable(generator)
    if fmt == "sherpa-onnx":
        from vocoder_train.models.sherpa import sherpa_form as form_of

        sherpa_form = form_of(generator, sherpa_form)  # refuses what the form cannot carry, before any file
    if fmt == "onnx-stream" and not is_causal(generator):
        raise UnsupportedForExport(
            f"{source}: the onnx-stream format needs a causal generator (model/generator=vocos_causal or "
            "vocos_causal_small); a non-causal model streams with a look-ahead from its onnx export"
        )
    mels = probe_mels(generator, sample_rate)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        writer = partial(WRITERS[fmt], form=sherpa_form) if fmt == "sherpa-onnx" else WRITERS[fmt]
        files = writer(generator, config, tmp, mels, opset)
        diff = verify(tmp, fmt, generator, mels, sherpa_form)
        if not diff <= tolerance:  # also catches NaN
            raise ExportError(
                f"{fmt} export differs from the training model: max abs diff {diff:.3e} > tolerance "
                f"{tolerance:.1e}; nothing was written to {output}"
            )
        hint = f"Checked against the training model: max abs diff {diff:.2e} (fp32)."
        report = None
        if quantize is not None:
            from vocoder_train.models.quantize import quantize_export

            report = quantize_export(tmp, generator, sample_rate, source, quantize)
            hint = f"int8 graph; its fp32 source {hint[0].lower()}{hint[1:]}\n\n" + "\n".join(
                f"- {line}" for line in report.lines()
            )
        conditioned = bool(getattr(generator, "conditions", 0))
        files.append(write_readme(tmp, fmt, str(source), hint, input_name(generator), conditioned))
        apply_umask(tmp)  # mkdtemp made it 0o700, and some writers make 0o600 files
        check_output(output, force)  # again: someone may have written there meanwhile
        publish(tmp, output)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(
        format=fmt,
        output=output,
        files=files,
        parameters=sum(p.numel() for p in generator.parameters()),
        sample_rate=sample_rate,
        max_abs_diff=diff,
        tolerance=tolerance,
        probe_frames=[m.shape[-1] for m in mels],
        notes=_notes(fmt, generator, config, sherpa_form),
        probes="mels" if getattr(generator.feature_extractor, "takes_audio", True) else "stand-in features",
        quantization=report,
    )


def _notes(fmt: str, generator: torch.nn.Module, config: dict | None = None, form: str = "auto") -> list[str]:
    notes = ["ONNX written with the TorchScript-based exporter (dynamo=False)"] if fmt == "onnx" else []
    passes = getattr(generator, "mel_passes", 0)
    if fmt == "vocos" and passes:
        notes.append(
            f"upstream Vocos.from_hparams/decode skips the generator's mel projection (mel_passes={passes}, "
            "config.yaml keeps it): vocoder-synthesize and load_vocoder apply it"
        )
    ours = [
        f"{part} is {type(m).__module__}.{type(m).__name__}"
        for part in ("feature_extractor", "backbone", "head")
        if type(m := getattr(generator, part, None)).__module__.startswith("vocoder_train")
    ]
    fe = generator.feature_extractor
    if not getattr(fe, "takes_audio", True):
        notes.append(
            f"the model takes precomputed features, (B, {fe.channels}, frames) a frame every {fe.hop_length} "
            "samples (input 'features' of the graph formats); checked on stand-in random ones"
        )
    if getattr(generator, "conditions", 0) and fmt in GRAPH_FORMATS:
        labels = ", ".join(f"{i} = {label}" for i, label in enumerate(generator.condition_labels))
        notes.append(
            f"the graph takes features (B, {generator.backbone.embed.in_channels}, frames) and bandwidth_id "
            f"(1,) int64 ({labels}); checked at every id"
        )
    if hasattr(fe, "encodec") and fmt in GRAPH_FORMATS:
        notes.append(
            "codec.safetensors beside it holds EnCodec (the encoder runs outside the graph) and the code "
            "embeddings: features = sum over codebooks k of "
            "feature_extractor.codebook_weights[codes[k] + 1024 k]"
        )
    elif getattr(fe, "takes_codes", False) and fmt in GRAPH_FORMATS:
        how = (
            "the codec's quantizer"
            if getattr(fe, "code_embeddings", None) is None
            else "the learned code embeddings (feature_extractor.code_embeddings)"
        )
        notes.append(
            f"codec.safetensors beside it holds {fe.codec_name} (config in config.yaml), which encodes audio "
            f"outside the graph; codes become the graph's features through {how}"
        )
    if fmt == "sherpa-onnx":
        from vocoder_train.models.sherpa import mel_conventions, sherpa_form, sherpa_trim

        form = sherpa_form(generator, form)
        trim = sherpa_trim(generator) if form == "vocos" else 0
        notes.append(
            f"sherpa-onnx model_type={form}"
            + (
                f"; its inverse STFT leaves out {trim} samples at each end of this model's output"
                if trim
                else ""
            )
        )
        matches = mel_conventions(config) if config else []
        notes.append(
            "the mel is that of " + " and ".join(matches)
            if matches
            else "its mel is neither Matcha-TTS's (HiFi-GAN 80-bin, 22.05 kHz) nor ZipVoice's "
            "(vocos-mel-24khz): sherpa-onnx will feed it another model's mel without checking"
        )
    if ours and fmt not in (*GRAPH_FORMATS, "sherpa-onnx"):  # a graph runs without the classes it names
        notes.append(f"the {', the '.join(ours)}: loading needs vocoder_train installed")
    if fmt == "onnx-stream":
        notes.append(
            "a streaming step: load it with vocoder_train (load_vocoder(...).stream()) or see README.md "
            "for the state inputs"
        )
    return notes

"""Export: a generator's weights -> files other tools load, each checked before it is published.

Formats (each folder also holds config.yaml, in vocos' format plus ``sample_rate``, and a README.md):

* ``vocos``: ``pytorch_model.bin``, the generator's state_dict with the windows and filterbanks
  that vocos keeps in it (:func:`~vocoder_train.io.buffers.vocos_state_dict`), for
  ``vocos.Vocos.from_hparams``
  + ``load_state_dict`` (and ``Vocos.from_pretrained`` once the folder is on a hub).
* ``safetensors``: ``generator.safetensors`` (state_dict; the config as JSON in its metadata).
* ``torchscript``: ``generator.torchscript.pt``, a traced mel -> waveform graph.
* ``onnx``: ``generator.onnx``, mel ``(B, n_mels, frames)`` -> audio ``(B, samples)``, dynamic axes.
* ``onnx-stream``: ``generator.stream.onnx``, a causal generator's streaming step
  (:class:`~vocoder_train.models.inference.streaming.StreamingVocos`): ``(mel chunk, *state) ->
  (audio, tail_audio, *next_state)``, dynamic batch and chunk length; checked by streaming the
  probe mels in chunks of changing size.

The graph formats use :class:`vocoder_train.models.inference.exportable.ExportableVocos` (an ISTFT made of
real-valued ops). Every export is reloaded from a temporary folder next to the output and run
on two mels (one from a synthetic signal, one random with an odd frame count, so a frozen time
axis is caught); it is published (renamed to the output) only when its largest absolute
difference from the training model's ``synthesize(mel)`` is within the tolerance. The published
folder and files have the modes the process umask gives (e.g. 0755 / 0644 under umask 022).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from vocoder_train.io.buffers import vocos_state_dict
from vocoder_train.io.checkpoint import apply_umask, load_checkpoint
from vocoder_train.models.causal import is_causal
from vocoder_train.models.inference.exportable import (
    GRAPH_FORMATS,
    ExportableVocos,
    UnsupportedForExport,
    check_exportable,
)
from vocoder_train.models.store import MODEL_FILES, load_vocoder, read_weights

STREAM_PROBE_CHUNKS = (1, 2, 3, 5, 8, 13)  # onnx-stream is checked by streaming in chunks of these sizes
FORMATS = ("vocos", "safetensors", "torchscript", "onnx", "onnx-stream")
__all__ = ["FORMATS", "ExportError", "ExportResult", "UnsupportedForExport", "export"]


class ExportError(RuntimeError):
    """The export could not be written or failed its check. Nothing was left in the output folder."""


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


# -- probe inputs -----------------------------------------------------------------------------


def probe_mels(generator: torch.nn.Module, sample_rate: int, seed: int = 0) -> list[torch.Tensor]:
    """Two feature tensors (1, C, L): from 1 s of a synthetic voiced signal, and random with odd L."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(sample_rate) / sample_rate
    f0 = 110 + 90 * t  # a glide, so every frame differs
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    audio = sum(0.25 / k * torch.sin(k * phase) for k in range(1, 8)) + 0.01 * torch.randn(
        t.shape, generator=g
    )
    with torch.inference_mode():
        real = generator.features(audio[None].float()).clone()
    rand = real.mean() + real.std() * torch.randn(1, real.shape[1], 37, generator=g)
    return [real, rand]


# -- writers (each writes into a fresh folder and returns the file names) ---------------------


def _state_dict(generator: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The keys upstream ``vocos.Vocos`` loads strictly: the weights plus the windows and filterbanks that
    training checkpoints leave out. Contiguous copies: safetensors refuses shared or strided storage,
    and torch.save keeps views' bases."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in vocos_state_dict(generator).items()}


def write_config(config: dict, folder: Path) -> str:
    with open(folder / "config.yaml", "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return "config.yaml"


def write_vocos(generator, config, folder: Path, mels, opset: int) -> list[str]:
    torch.save(_state_dict(generator), folder / MODEL_FILES["vocos"])
    return [write_config(config, folder), MODEL_FILES["vocos"]]


def write_safetensors(generator, config, folder: Path, mels, opset: int) -> list[str]:
    from safetensors.torch import save_file

    meta = {
        "config": json.dumps(config),
        "sample_rate": str(config["sample_rate"]),
        "format": "vocoder_train.generator",
    }
    save_file(_state_dict(generator), str(folder / MODEL_FILES["safetensors"]), metadata=meta)
    return [write_config(config, folder), MODEL_FILES["safetensors"]]


def write_torchscript(generator, config, folder: Path, mels, opset: int) -> list[str]:
    module = ExportableVocos(generator).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in 2.14 but works
        traced = torch.jit.trace(module, (mels[0],), check_trace=False)
        traced.save(str(folder / MODEL_FILES["torchscript"]))
    return [write_config(config, folder), MODEL_FILES["torchscript"]]


def quiet_onnx_export() -> None:
    """Inside ``warnings.catch_warnings()``: silences what the TorchScript-based ONNX exporter says
    about itself (its deprecation, tracer notes, and that it cannot constant-fold the reversed pad
    list of a left-only ``F.pad``, as in the causal convolutions), none of which is about the graph."""
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)


def write_onnx(generator, config, folder: Path, mels, opset: int) -> list[str]:
    module = ExportableVocos(generator).eval()
    # torch 2.14 defaults to the dynamo exporter, which needs `onnxscript` (not a dependency here);
    # the TorchScript-based exporter handles this graph (conv, layer norm, linear, conv_transpose).
    with warnings.catch_warnings(), torch.no_grad():
        quiet_onnx_export()
        torch.onnx.export(
            module,
            (mels[0],),
            str(folder / MODEL_FILES["onnx"]),
            dynamo=False,
            input_names=["mel"],
            output_names=["audio"],
            dynamic_axes={"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}},
            opset_version=opset,
        )
    import onnx

    onnx.checker.check_model(str(folder / MODEL_FILES["onnx"]))
    return [write_config(config, folder), MODEL_FILES["onnx"]]


def write_onnx_stream(generator, config, folder: Path, mels, opset: int) -> list[str]:
    from vocoder_train.models.inference.streaming import StreamingVocos

    module = StreamingVocos(generator, graph=True).eval()
    state = module.initial_state(1)
    names = [f"state_{i}" for i in range(len(state))]
    batch = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():  # the TorchScript-based exporter, as write_onnx
        quiet_onnx_export()
        torch.onnx.export(
            module,
            (mels[0][..., :5], *state),
            str(folder / MODEL_FILES["onnx-stream"]),
            dynamo=False,
            input_names=["mel", *names],
            output_names=["audio", "tail_audio", *(f"next_{n}" for n in names)],
            dynamic_axes={
                "mel": {0: "batch", 2: "frames"},
                "audio": {0: "batch", 1: "samples"},
                "tail_audio": batch,
                **{n: batch for n in names},
                **{f"next_{n}": batch for n in names},
            },
            opset_version=opset,
        )
    import onnx

    onnx.checker.check_model(str(folder / MODEL_FILES["onnx-stream"]))
    return [write_config(config, folder), MODEL_FILES["onnx-stream"]]


WRITERS = {
    "vocos": write_vocos,
    "safetensors": write_safetensors,
    "torchscript": write_torchscript,
    "onnx": write_onnx,
    "onnx-stream": write_onnx_stream,
}


def write_readme(folder: Path, fmt: str, source: str, result_hint: str) -> str:
    load = {
        "vocos": 'from vocos import Vocos\nimport torch\n\nvocos = Vocos.from_hparams("config.yaml")\n'
        'vocos.load_state_dict(torch.load("pytorch_model.bin", map_location="cpu", weights_only=True))\n'
        "vocos.eval()\naudio = vocos.decode(mel)  # mel: (B, n_mels, frames) -> (B, frames * hop)\n"
        '# once uploaded to the Hugging Face hub: Vocos.from_pretrained("<user>/<repo>")',
        "safetensors": "from safetensors.torch import load_file\nfrom vocos import Vocos\n\n"
        "vocos = "
        'Vocos.from_hparams("config.yaml")\nvocos.load_state_dict(load_file("generator.safetensors"))\n'
        "vocos.eval()\naudio = vocos.decode(mel)  # mel: (B, n_mels, frames)",
        "torchscript": 'import torch\n\nmodel = torch.jit.load("generator.torchscript.pt").eval()\n'
        "audio = model(mel)  # mel: float32 (B, n_mels, frames) -> (B, samples)",
        "onnx": 'import onnxruntime as ort\n\nsess = ort.InferenceSession("generator.onnx")\n'
        '(audio,) = sess.run(None, {"mel": mel})  # float32 (B, n_mels, frames) -> (B, samples)',
        "onnx-stream": 'import vocoder_train as vt\n\nstreamer = vt.load_vocoder(".").stream()  # carries '
        "the state\n"
        "for chunk in mel_chunks:  # float32 (B, n_mels, c), any c per call\n    play(streamer.push(chunk))\n"
        "play(streamer.flush())\n\n# onnxruntime alone: feed mel + state_0.. (zeros to start), keep "
        "next_state_* for\n"
        "# the next call; drop the first n_fft - hop samples of an utterance (before time 0); after\n"
        "# its last chunk, the last call's tail_audio is the end.",
    }[fmt]
    text = (
        f"# Vocoder export ({fmt})\n\nExported by `vocoder-export` from `{source}`. {result_hint}\n\n"
        "`config.yaml` is a vocos config (feature_extractor / backbone / head) plus `sample_rate`; the mel\n"
        "front-end (`feature_extractor`) is what the model expects as input.\n\n"
        f"## Load it\n\n```python\n{load}\n```\n\n"
        "Or, from the command line: `vocoder-synthesize <this folder> input.wav --output out/`.\n"
    )
    (folder / "README.md").write_text(text, encoding="utf-8")
    return "README.md"


# -- verification -----------------------------------------------------------------------------


def verify(folder: Path, fmt: str, generator: torch.nn.Module, mels: Sequence[torch.Tensor]) -> float:
    """Reloads the export from ``folder`` and returns max |export(mel) - generator.synthesize(mel)|."""
    if fmt == "vocos":
        run = _load_with_vocos(folder)
    elif fmt == "onnx-stream":
        from vocoder_train.models.inference.streaming import stream_mel

        vocoder = load_vocoder(folder, device="cpu")
        run = lambda mel: stream_mel(vocoder.stream(), mel, STREAM_PROBE_CHUNKS)[0]  # noqa: E731
    else:
        run = load_vocoder(folder, device="cpu", engine="eager").decode  # the exported weights as they are
    # upstream Vocos.decode runs backbone + head only: the generator's mel projection is vocoder_train's
    passes = getattr(generator, "mel_passes", 0)
    worst = 0.0
    for mel in mels:
        with torch.inference_mode():
            if fmt == "vocos":
                generator.mel_passes = 0
            try:
                ref = generator.synthesize(mel).float()
            finally:
                if passes:
                    generator.mel_passes = passes
            out = run(mel).float()
        if out.shape != ref.shape:
            raise ExportError(
                f"{fmt} export gives shape {tuple(out.shape)} for {tuple(mel.shape)}; expected "
                f"{tuple(ref.shape)}"
            )
        worst = max(worst, (out - ref).abs().max().item())
    return worst


def _load_with_vocos(folder: Path):
    """The contract of the vocos format: upstream ``Vocos.from_hparams`` + ``load_state_dict``, unchanged."""
    from vocos import Vocos

    model = Vocos.from_hparams(str(folder / "config.yaml"))
    model.load_state_dict(load_checkpoint(folder / MODEL_FILES["vocos"]))
    return model.eval().decode


# -- atomic publishing ------------------------------------------------------------------------


def check_output(output: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise ExportError(f"{output}: exists and is not a folder; choose another --output")
    if output.is_dir() and any(output.iterdir()) and not force:
        raise ExportError(
            f"{output}: exists and is not empty; pass --force to replace it, or choose another --output"
        )


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
) -> ExportResult:
    """Writes ``fmt`` files for ``source`` into ``output`` after checking them (see the module docstring)."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    output = Path(output)
    check_output(output, force)
    weights = read_weights(source)
    generator, sample_rate, config = weights.build(ema=ema), weights.sample_rate, weights.config
    if fmt in GRAPH_FORMATS:
        check_exportable(generator)
    if fmt == "onnx-stream" and not is_causal(generator):
        raise UnsupportedForExport(
            f"{source}: --format onnx-stream needs a causal generator (model/generator=vocos_causal or "
            "vocos_causal_small); a non-causal model streams with a look-ahead from its --format onnx export"
        )
    mels = probe_mels(generator, sample_rate)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        files = WRITERS[fmt](generator, config, tmp, mels, opset)
        diff = verify(tmp, fmt, generator, mels)
        if not diff <= tolerance:  # also catches NaN
            raise ExportError(
                f"{fmt} export differs from the training model: max abs diff {diff:.3e} > tolerance "
                f"{tolerance:.1e}; "
                f"nothing was written to {output}"
            )
        hint = f"Checked against the training model: max abs diff {diff:.2e} (fp32)."
        files.append(write_readme(tmp, fmt, str(source), hint))
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
        notes=_notes(fmt, generator),
    )


def _notes(fmt: str, generator: torch.nn.Module) -> list[str]:
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
    if ours and fmt not in GRAPH_FORMATS:  # a graph runs without the classes its config.yaml names
        notes.append(f"the {', the '.join(ours)}: loading needs vocoder_train installed")
    if fmt == "onnx-stream":
        notes.append(
            "a streaming step: load it with vocoder_train (load_vocoder(...).stream()) or see README.md "
            "for the state inputs"
        )
    return notes

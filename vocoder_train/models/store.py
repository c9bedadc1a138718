"""The model store: what kind of model a file or folder holds, and a generator's weights read from it.

    weights = read_weights("runs/demo/checkpoints/last.ckpt")  # the PyTorch-weight kinds
    generator, sample_rate = load_generator("exported/vocos")  # built, in eval mode

Kinds (:func:`model_kind`; a folder is looked into for the file names of :data:`MODEL_FILES`, a file is
recognised by its content, and any other kind of file is refused with :class:`WrongModelFile`):

* ``checkpoint``: a training checkpoint (``.ckpt``): weights, EMA weights and the run's config.
* ``vocos``: a folder with ``config.yaml`` + ``pytorch_model.bin`` (``charactr/vocos-mel-24khz``).
* ``safetensors``: ``generator.safetensors``; its config in ``config.yaml`` beside it or in its metadata.
* ``torchscript`` / ``onnx``: a traced mel -> waveform graph with ``config.yaml`` beside it.
* ``onnx-stream``: a causal generator's streaming step (mel chunk + state -> audio + state,
  :class:`~vocoder_train.models.inference.stream_step.StreamingVocos`) with ``config.yaml`` beside it.

:func:`~vocoder_train.models.vocoder.load_vocoder` turns any kind into a vocoder. Weights are read
with :func:`~vocoder_train.io.checkpoint.load_checkpoint` and configs through
:mod:`vocoder_train.models.stored_config` (upgraded and checked before anything is built).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vocoder_train.io.buffers import drop_derived
from vocoder_train.io.checkpoint import load_checkpoint, safetensors_json
from vocoder_train.io.filekind import INPUT_KINDS, WrongFileKind, sniff
from vocoder_train.models.generator import VocosGenerator, build_generator, from_vocos_config
from vocoder_train.models.stored_config import (
    ModelError,
    checked_vocos_config,
    checkpoint_config,
    read_vocos_yaml,
)

# File names inside an export folder, by kind, in the order a folder is looked into (vocoder-export writes
# these).
MODEL_FILES = {
    "vocos": "pytorch_model.bin",
    "safetensors": "generator.safetensors",
    "torchscript": "generator.torchscript.pt",
    "onnx": "generator.onnx",
    "onnx-stream": "generator.stream.onnx",
}
CODEC_FILE = "codec.safetensors"  # beside a graph of a codec model: the codec and its code embeddings
WEIGHT_KINDS = ("checkpoint", "vocos", "safetensors")
# sniffed content (io.filekind) -> model kind; a damaged zip is a checkpoint cut short, reported when loaded
CONTENT_KINDS = {
    "torch": "checkpoint",
    "pickle": "checkpoint",
    "damaged-zip": "checkpoint",
    "safetensors": "safetensors",
    "torchscript": "torchscript",
    "onnx": "onnx",
}
MODEL_EXPECTED = "a model (a training checkpoint .ckpt, a vocos folder, or a vocoder-export folder or file)"
MODEL_FIX = "give a run's checkpoints/last.ckpt, a vocos folder, or a folder vocoder-export wrote"
WEIGHTS_EXPECTED = "PyTorch weights (a training checkpoint .ckpt, a vocos folder or a safetensors export)"


class WrongModelFile(ModelError, WrongFileKind):
    """A model path that holds another kind of file (a mel, audio, text, a graph where weights are needed)."""


def model_kind(path: str | Path) -> tuple[str, Path]:
    """(kind, file) for a model path: a folder is looked into by file name, a file is recognised by its
    content (:func:`~vocoder_train.io.filekind.sniff`). Raises :class:`WrongModelFile` for anything
    else (a mel, audio, text, ...) and FileNotFoundError for a missing path or a folder without a model."""
    path = Path(path)
    if path.is_dir():
        for name in MODEL_FILES.values():
            if (path / name).is_file():
                return model_kind(path / name)
        found = sniff(path)
        if found.name in INPUT_KINDS:
            raise WrongModelFile(path, found, MODEL_EXPECTED, MODEL_FIX)
        raise FileNotFoundError(
            f"{path}: no model in this folder (looked for {', '.join(MODEL_FILES.values())})"
        )
    found = sniff(path)
    if found.name == "missing":
        raise FileNotFoundError(f"{path}: no such model file or folder")
    if found.name not in CONTENT_KINDS:
        raise WrongModelFile(path, found, MODEL_EXPECTED, MODEL_FIX)
    kind, name = CONTENT_KINDS[found.name], path.name.lower()
    if kind == "onnx" and name.endswith(".stream.onnx"):
        return "onnx-stream", path
    if kind == "checkpoint" and name == MODEL_FILES["vocos"]:
        return "vocos", path
    return kind, path


def read_config(path: str | Path) -> dict:
    """The vocos config (``class_path`` / ``init_args`` per part, plus ``sample_rate``) of any model kind."""
    kind, file = model_kind(path)
    if kind == "checkpoint":
        return checkpoint_config(load_checkpoint(file), file)
    beside = file.parent / "config.yaml"
    if kind == "safetensors" and not beside.is_file():
        stored = safetensors_json(file, "config")
        if stored is None:
            raise FileNotFoundError(
                f"{file}: no config.yaml beside it and none in its metadata; put the "
                "config.yaml it was exported with next to it"
            )
        return checked_vocos_config(stored, file, "metadata config")
    return checked_vocos_config(read_vocos_yaml(beside), beside)


@dataclass
class Weights:
    """A generator's PyTorch weights and its config, not yet built.

    Args:
        source (Path): the file read (a vocos folder: its folder).
        kind (str): "checkpoint", "vocos" or "safetensors".
        config (dict): the vocos config with ``sample_rate``.
        generator (dict): the generator's state dict.
        ema_generator (dict | None): a checkpoint's EMA generator, when the run kept one.
        discriminators (dict | None): a checkpoint's discriminator state (``VocoderGAN.adversary``).
    """

    source: Path
    kind: str
    config: dict
    generator: dict[str, torch.Tensor]
    ema_generator: dict[str, torch.Tensor] | None = None
    discriminators: dict[str, torch.Tensor] | None = None

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    def state(self, ema: bool = False) -> dict[str, torch.Tensor]:
        """The generator's state dict: its EMA weights with ``ema``."""
        if not ema:
            return self.generator
        if self.kind != "checkpoint":
            raise ModelError(
                f"{self.source}: EMA weights come from a training checkpoint (.ckpt); a {self.kind} "
                "export holds one set of weights"
            )
        if self.ema_generator is None:
            raise ModelError(
                f"{self.source}: has no EMA weights (its run trained without callbacks=ema); "
                "only its raw weights can be used"
            )
        return self.ema_generator

    def build(self, device: str = "cpu", ema: bool = False) -> VocosGenerator:
        """The generator in eval mode on ``device``, with these weights."""
        generator = build_generator(from_vocos_config(self.config))
        state = drop_derived(
            self.state(ema), generator
        )  # vocos folders and older checkpoints hold windows/filterbanks
        missing, unexpected = generator.load_state_dict(state, strict=False)
        missing = fill_codec(generator, missing, self.source)
        if missing or unexpected:
            raise ModelError(
                f"{self.source}: the weights do not match its config (missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}); keep each weights file with the config it was saved with"
            )
        return generator.to(device).eval()


def fill_codec(generator: VocosGenerator, missing: list[str], source: Path) -> list[str]:
    """A vocos folder of an EnCodec model holds no EnCodec weights (vocos keeps them apart): they come from
    where vocos finds them, torch hub's cache. Returns the keys still missing."""
    prefix = "feature_extractor.encodec."
    if not missing or not all(k.startswith(prefix) for k in missing):
        return missing
    from vocoder_train.models.codec import ENCODEC_FILE, CodecError, hub_file, load_encodec

    path = hub_file()
    if not path.is_file():
        raise ModelError(
            f"{source}: holds no EnCodec weights (vocos keeps them apart) and torch hub's cache has none at "
            f"{path}; copy {ENCODEC_FILE} there (or set TORCH_HOME to the folder above hub/)"
        )
    try:
        generator.feature_extractor.encodec.load_state_dict(load_encodec(path).state_dict())
    except CodecError as e:
        raise ModelError(f"{source}: {e}") from e
    return []


def _prefixed(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def read_weights(path: str | Path, device: str = "cpu") -> Weights:
    """The PyTorch weights of a checkpoint, a vocos folder or a safetensors export."""
    try:
        kind, file = model_kind(path)
    except WrongModelFile as e:
        raise WrongModelFile(e.path, e.found, WEIGHTS_EXPECTED, MODEL_FIX) from None
    if kind not in WEIGHT_KINDS:
        raise WrongModelFile(
            file,
            sniff(file),
            WEIGHTS_EXPECTED,
            "it is a traced graph without PyTorch weights; "
            "use the checkpoint, vocos folder or safetensors export it was made from",
        )
    if kind != "checkpoint":
        source = file.parent if kind == "vocos" else file
        return Weights(source, kind, read_config(file), load_checkpoint(file, map_location=device))
    ckpt = load_checkpoint(file, map_location=device)
    config = checkpoint_config(ckpt, file)
    state = ckpt.get("state_dict") or {}
    extra = ckpt.get("vocoder_train") or {}
    return Weights(
        file,
        kind,
        config,
        _prefixed(state, "generator."),
        extra.get("ema_generator"),
        _prefixed(state, "adversary.") or None,
    )


def load_generator(path: str | Path, device: str = "cpu", ema: bool = False) -> tuple[VocosGenerator, int]:
    """(generator in eval mode on ``device``, sample_rate) from a checkpoint, vocos folder or safetensors."""
    weights = read_weights(path, device)
    return weights.build(device, ema), weights.sample_rate

"""The model store: the one loader for every model file or folder vocoder_train reads or writes.

    vocoder = load_vocoder("runs/demo/checkpoints/last.ckpt")   # any kind below
    audio = vocoder.decode(mel)                                # (B, n_mels, L) -> (B, T), on the CPU
    generator, sample_rate = load_generator("exported/vocos")  # the PyTorch-weight kinds

Kinds (:func:`model_kind`; a folder is looked into for the file names of :data:`MODEL_FILES`, a file is
recognised by its content, and any other kind of file is refused with :class:`WrongModelFile`):

* ``checkpoint``: a training checkpoint (``.ckpt``): weights, EMA weights and the run's config.
* ``vocos``: a folder with ``config.yaml`` + ``pytorch_model.bin`` (``charactr/vocos-mel-24khz``).
* ``safetensors``: ``generator.safetensors``; its config in ``config.yaml`` beside it or in its metadata.
* ``torchscript`` / ``onnx``: a traced mel -> waveform graph with ``config.yaml`` beside it.
* ``onnx-stream``: a causal generator's streaming step (mel chunk + state -> audio + state,
  :class:`~vocoder_train.models.inference.streaming.StreamingVocos`) with ``config.yaml`` beside it.

Every kind streams (``vocoder.stream()``, :mod:`vocoder_train.models.inference.streaming`): causal
generators exactly with carried state, others with a look-ahead.

Everything read is untrusted input: weights go through
:func:`~vocoder_train.io.checkpoint.load_checkpoint`, and every class a stored config names must be
a ``torch.nn.Module`` of ``vocos`` or ``vocoder_train`` (checked before anything is built), so a
config cannot make the loader call an arbitrary function. Configs written before a module moved
are read through :data:`MOVED_MODULES`.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from vocoder_train.io.buffers import drop_derived
from vocoder_train.io.checkpoint import load_checkpoint, load_torchscript, safetensors_json
from vocoder_train.io.filekind import INPUT_KINDS, WrongFileKind, sniff
from vocoder_train.models.generator import (
    VocosGenerator,
    build_generator,
    from_vocos_config,
    match_length,
    to_vocos_config,
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
ENGINES = ("auto", "fused", "eager", "fused-bf16")
# engine="auto" takes fused-bf16 only where bf16 is native and its output on a probe stays this close
# (max abs) to the fp32 decode, which equals vocos.Vocos.decode to float rounding
AUTO_BF16_TOLERANCE = 1e-4
# Modules that moved, old -> new: a stored config naming the old one loads the class from the new one.
MOVED_MODULES = {
    "vocoder_train.models.disc_cqt": "vocoder_train.models.discriminators",
    "vocoder_train.models.disc_msd": "vocoder_train.models.discriminators",
    "vocoder_train.models.disc_msstft": "vocoder_train.models.discriminators",
    "vocoder_train.models.fused": "vocoder_train.models.inference.fused",
    "vocoder_train.models.exportable": "vocoder_train.models.inference.exportable",
    "vocoder_train.lit.callbacks": "vocoder_train.training.callbacks",
    "vocoder_train.lit.module": "vocoder_train.training.module",
    "vocoder_train.data.audio_io": "vocoder_train.io.audio",
}
TRUSTED_PACKAGES = ("vocos", "vocoder_train")
_TARGET_KEYS = ("_target_", "class_path")


class ModelError(ValueError):
    """A model file or folder cannot be loaded or used as asked. The message names it and what to do."""


class WrongModelFile(ModelError, WrongFileKind):
    """A model path that holds another kind of file (a mel, audio, text, a graph where weights are needed)."""


# -- stored configs ------------------------------------------------------------------------------------


def upgrade_config(node: Any) -> Any:
    """A copy of a stored config with every ``_target_`` / ``class_path`` in a moved module renamed."""
    if isinstance(node, dict):
        return {
            k: _renamed(v) if k in _TARGET_KEYS and isinstance(v, str) else upgrade_config(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [upgrade_config(v) for v in node]
    return node


def _renamed(target: str) -> str:
    module, _, name = target.rpartition(".")
    return f"{MOVED_MODULES[module]}.{name}" if module in MOVED_MODULES else target


def check_classes(node: Any, where: str, source: Path) -> None:
    """Raises :class:`ModelError` unless every class ``node`` names is an importable ``nn.Module``
    of a trusted package. ``where`` is the key path of ``node`` for messages, e.g. ``model.generator``."""
    if isinstance(node, list):
        for i, v in enumerate(node):
            check_classes(v, f"{where}[{i}]", source)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        path = f"{where}.{key}" if where else str(key)
        if key in _TARGET_KEYS:
            _check_class(value, path, source)
        else:
            check_classes(value, path, source)


def _check_class(target: Any, key: str, source: Path) -> None:
    if not isinstance(target, str) or target.split(".")[0] not in TRUSTED_PACKAGES:
        raise ModelError(
            f"{source}: {key}={target!r} is not a class of {' or '.join(TRUSTED_PACKAGES)}; "
            "refusing to build it (only load models you trust, as vocoder_train or vocos wrote them)"
        )
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ModelError(
            f"{source}: {key}={target} cannot be imported ({e}). It was written by another version of "
            f"vocoder_train: add the class's new module to MOVED_MODULES in {__name__}, or load it with "
            "the version that wrote it and re-export it with vocoder-export"
        ) from e
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelError(f"{source}: {key}={target} is not a torch.nn.Module; refusing to build it")


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; a model folder holds config.yaml next to the model file")
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict) or not all(
        isinstance(cfg.get(p), dict) for p in ("feature_extractor", "backbone", "head")
    ):
        raise ModelError(
            f"{path}: not a vocos config (needs feature_extractor, backbone and head, each with class_path)"
        )
    return cfg


def _with_sample_rate(config: dict, source: Path, where: str = "") -> dict:
    """The vocos config, upgraded, checked, with a top-level ``sample_rate`` (from the feature
    extractor when absent)."""
    config = upgrade_config(config)
    check_classes(config, where, source)
    sr = config.get("sample_rate") or _init_args(config, "feature_extractor").get("sample_rate")
    if not sr:
        raise ModelError(f"{source}: config has no sample_rate; add sample_rate: <Hz> at its top level")
    return {**config, "sample_rate": int(sr)}


def _init_args(vocos_config: dict, part: str) -> dict:
    return (vocos_config.get(part) or {}).get("init_args") or {}


def _checkpoint_config(ckpt: Any, path: Path) -> dict:
    """The run config a training checkpoint stores, upgraded and checked."""
    try:
        cfg = upgrade_config(ckpt["vocoder_train"]["config"])
        generator, sample_rate = cfg["model"]["generator"], int(cfg["audio"]["sample_rate"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(
            f"{path}: not a vocoder_train checkpoint (no vocoder_train.config with model.generator "
            "and audio.sample_rate); give a run's last.ckpt, a vocos folder or an export"
        ) from e
    check_classes(generator, "model.generator", path)
    try:
        return to_vocos_config(generator, sample_rate)
    except (KeyError, TypeError) as e:
        raise ModelError(
            f"{path}: model.generator has no {e} entry with a _target_; not a generator config"
        ) from e


# -- finding and reading -------------------------------------------------------------------------------


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
        return _checkpoint_config(load_checkpoint(file), file)
    beside = file.parent / "config.yaml"
    if kind == "safetensors" and not beside.is_file():
        stored = safetensors_json(file, "config")
        if stored is None:
            raise FileNotFoundError(
                f"{file}: no config.yaml beside it and none in its metadata; put the "
                "config.yaml it was exported with next to it"
            )
        return _with_sample_rate(stored, file, "metadata config")
    return _with_sample_rate(_read_yaml(beside), beside)


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
        if missing or unexpected:
            raise ModelError(
                f"{self.source}: the weights do not match its config (missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}); keep each weights file with the config it was saved with"
            )
        return generator.to(device).eval()


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
    config = _checkpoint_config(ckpt, file)
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


# -- vocoders: features -> audio, whatever the kind --------------------------------------------------


class Vocoder:
    """A loaded model of any kind: features ``(B, C, L)`` -> audio ``(B, T)``.

    Args:
        source (Path): the file or folder it was loaded from (for messages).
        kind (str): "checkpoint", "vocos", "safetensors", "torchscript" or "onnx".
        vocos_config (dict): the vocos ``config.yaml`` content (class_path/init_args per part).
        sample_rate (int): the model's rate in Hz.
        device (str): where decoding runs; inputs and outputs are CPU tensors.
    """

    def __init__(self, source: Path, kind: str, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        self.source, self.kind, self.config = Path(source), kind, vocos_config
        self.sample_rate, self.device = int(sample_rate), device
        fe, head = _init_args(vocos_config, "feature_extractor"), _init_args(vocos_config, "head")
        self.hop_length = int(
            head.get("hop_length") or head.get("mdct_frame_len", 0) // 2 or fe.get("hop_length")
        )
        self.n_fft = int(head.get("n_fft") or head.get("mdct_frame_len") or 4 * self.hop_length)
        self.padding = head.get("padding", "same")
        self.n_mels = int(fe.get("n_mels") or _init_args(vocos_config, "backbone").get("input_channels"))
        self._feature_extractor: torch.nn.Module | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.source)!r}, kind={self.kind!r}, "
            f"sample_rate={self.sample_rate}, "
            f"hop_length={self.hop_length}, n_mels={self.n_mels}, device={self.device!r})"
        )

    @property
    def feature_extractor(self) -> torch.nn.Module:
        """The module behind :meth:`features` (built on first use), e.g. for its mel filterbank."""
        if self._feature_extractor is None:
            self._feature_extractor = self._build_feature_extractor()
        return self._feature_extractor

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) at ``sample_rate`` -> features (B, C, L), on the CPU."""
        with torch.inference_mode():
            return self.feature_extractor(audio.float().cpu())

    def _build_feature_extractor(self) -> torch.nn.Module:
        from hydra.utils import instantiate

        node = self.config["feature_extractor"]
        try:
            return instantiate(
                {"_target_": node["class_path"], **node.get("init_args", {})}, _convert_="all"
            ).eval()
        except Exception as e:
            raise ModelError(
                f"{self.source}: cannot build its feature extractor {node.get('class_path')} ({e}); "
                "give it precomputed features as .npy files instead of audio"
            ) from e

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        """features (B, C, L) -> audio (B, T), on the CPU."""
        raise NotImplementedError

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) -> features -> audio (B, T), trimmed or zero-padded to T."""
        return match_length(self.decode(self.features(audio)), audio.shape[-1])

    def round_trips(self) -> int:
        """ISTFT + STFT round trips after the network (none in the graph exports, which refuse them)."""
        return 0

    def stream(self, lookahead: int | None = None):
        """A :class:`~vocoder_train.models.inference.streaming.Streamer` (``push(mel) -> audio``,
        ``flush() -> audio``). Here: re-decoding with ``lookahead`` frames held back; ``None`` is
        refused for a non-causal model and is the exact look-ahead for a causal one."""
        from vocoder_train.models.inference.streaming import NotStreamable, lookahead_streamer

        try:
            return lookahead_streamer(self, lookahead)
        except NotStreamable as e:
            raise ModelError(f"{self.source}: {e}") from e


class TorchVocoder(Vocoder):
    """A ``VocosGenerator`` (checkpoint, vocos folder or safetensors export).

    ``engine``: "auto" (default) picks the fastest engine that stays within :data:`AUTO_BF16_TOLERANCE`
    of ``Vocos.decode`` on this device: "fused-bf16" where bf16 matrix products are native and the
    model's output on a probe mel stays within the tolerance of the fp32 decode, else "fused".
    "fused" decodes with :class:`~vocoder_train.models.inference.fused.FusedVocos` (same output to
    float rounding, ~1.05x `Vocos.decode` on CPU), "fused-bf16" also runs its pointwise products in
    bfloat16 (~1.9x where bf16 is native, several times slower where it is not), "eager" calls the
    generator itself. Generators the fused path does not cover (IMDCT heads, adanorm, a mel
    projection, causal ones) decode eagerly. :attr:`engine` says which engine runs;
    :attr:`engine_note` why "auto" chose it.
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        source: Path,
        kind: str,
        vocos_config: dict,
        sample_rate: int,
        device: str = "cpu",
        engine: str = "auto",
    ):
        super().__init__(source, kind, vocos_config, sample_rate, device)
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: choose one of {', '.join(ENGINES)}")
        self.generator = generator.to(device).eval()
        self._feature_extractor = self.generator.feature_extractor
        self.engine, self.fused, self.engine_note = "eager", None, ""
        if engine == "auto":
            self._choose_engine()
        elif engine != "eager":
            self._fuse(engine)

    def _choose_engine(self) -> None:
        """engine="auto": fused-bf16 where bf16 is native and accurate enough for this model, else fused."""
        from vocoder_train.hardware import bf16_matmul_is_fast

        self._fuse("fused")
        if self.fused is None:
            self.engine_note = "the fused path does not cover this generator"
            return
        if not bf16_matmul_is_fast(self.device):
            self.engine_note = f"no native bf16 on {self.device}"
            return
        fp32 = self.fused
        self._fuse("fused-bf16")
        probe = self.features(_probe_audio(self.sample_rate))
        with torch.inference_mode():
            error = float((self.fused(probe.to(self.device)) - fp32(probe.to(self.device))).abs().max())
        if error > AUTO_BF16_TOLERANCE:
            self.fused, self.engine = fp32, "fused"
            self.engine_note = f"bf16 differs by {error:.1e} > {AUTO_BF16_TOLERANCE:g} on a probe"
        else:
            self.engine_note = f"native bf16, {error:.1e} max abs from fp32 on a probe"

    def _fuse(self, engine: str) -> None:
        from vocoder_train.hardware import bf16_matmul_is_fast
        from vocoder_train.models.inference.fused import FusedVocos, FusionUnsupported

        bf16 = engine == "fused-bf16"
        if bf16 and not bf16_matmul_is_fast(self.device):
            warnings.warn(
                f"engine fused-bf16: {self.device} has no native bf16 matrix products; it will be slower",
                stacklevel=3,
            )
        try:
            if getattr(self.generator, "mel_passes", 0):  # FusedVocos is backbone + head only
                raise FusionUnsupported(
                    f"the generator's mel projection (mel_passes={self.generator.mel_passes})"
                )
            self.fused = (
                FusedVocos(self.generator, torch.bfloat16 if bf16 else torch.float32).to(self.device).eval()
            )
            self.engine = engine
        except FusionUnsupported as e:
            if bf16:
                warnings.warn(
                    f"engine fused-bf16 is not available for {self.source} ({e}); decoding eagerly",
                    stacklevel=3,
                )

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.generator.features(audio.to(self.device)).cpu()

    def round_trips(self) -> int:
        # from the modules themselves: a config may leave refine_iters at the head's default
        return int(getattr(self.generator.head, "refine_iters", 0)) + int(
            getattr(self.generator, "mel_passes", 0)
        )

    def stream(self, lookahead: int | None = None):
        """A causal generator streams exactly with carried state (``lookahead`` must be None);
        others as :meth:`Vocoder.stream`."""
        from vocoder_train.models.causal import is_causal
        from vocoder_train.models.inference.streaming import CarriedStateStreamer, StreamingVocos, torch_step

        if not is_causal(self.generator):
            return super().stream(lookahead)
        if lookahead is not None:
            raise ModelError(
                f"{self.source}: a causal generator streams exactly with no look-ahead "
                f"(lookahead={lookahead} given)"
            )
        step = StreamingVocos(self.generator).eval()
        return CarriedStateStreamer(
            torch_step(step, self.device), step.initial_state, self.hop_length, self.sample_rate, step.latency
        )

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self.fused is not None:
                return self.fused(mel.to(self.device)).cpu()
            return self.generator.synthesize(mel.to(self.device)).float().cpu()


class TorchScriptVocoder(Vocoder):
    """A traced ``ExportableVocos`` (mel -> waveform)."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        super().__init__(file, "torchscript", vocos_config, sample_rate, device)
        self.module = load_torchscript(file, map_location=device)

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(mel.to(self.device).float()).cpu()


def _probe_audio(sample_rate: int, seconds: float = 1.0) -> torch.Tensor:
    """(1, T): a voiced harmonic sweep with noise, the probe that engine="auto" decodes."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 110.0 + 90.0 * t / seconds
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / sample_rate
    x = sum(0.3 / k * torch.sin(k * phase) for k in range(1, 12))
    return (x + 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(0)))[None].float()


def onnx_session(file: str | Path, device: str = "cpu", threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` for ``file`` on ``device`` (cuda needs onnxruntime-gpu)."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ModelError(f"{file}: running on {device} needs onnxruntime-gpu (CUDAExecutionProvider)")
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = int(threads)
    # ONNX Runtime's pool spin-waits after each run by default, slowing the torch feature
    # extraction and file I/O that run between chunks on the same cores
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(file), sess_options=opts, providers=providers)


class OnnxVocoder(Vocoder):
    """An ONNX ``ExportableVocos`` run with onnxruntime."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        super().__init__(file, "onnx", vocos_config, sample_rate, device)
        self.session = onnx_session(file, device)
        self.input_name = self.session.get_inputs()[0].name

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        (audio,) = self.session.run(None, {self.input_name: mel.detach().float().cpu().numpy()})
        return torch.from_numpy(audio)


class StreamingOnnxVocoder(Vocoder):
    """A ``--format onnx-stream`` graph run with onnxruntime: ``stream()`` carries its state exactly;
    ``decode(mel)`` is one push of every frame and the flush."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        super().__init__(file, "onnx-stream", vocos_config, sample_rate, device)
        self.session = onnx_session(file, device)

    def stream(self, lookahead: int | None = None):
        from vocoder_train.dsp import causal_latency
        from vocoder_train.models.inference.streaming import (
            CarriedStateStreamer,
            onnx_initial_state,
            onnx_step,
        )

        if lookahead is not None:
            raise ModelError(
                f"{self.source}: a streaming export streams exactly with no look-ahead "
                f"(lookahead={lookahead} given)"
            )
        return CarriedStateStreamer(
            onnx_step(self.session),
            onnx_initial_state(self.session),
            self.hop_length,
            self.sample_rate,
            causal_latency(self.n_fft, self.hop_length),
        )

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        streamer = self.stream()
        return torch.cat([streamer.push(mel.detach().float().cpu()), streamer.flush()], dim=-1)


def load_vocoder(path: str | Path, device: str = "cpu", ema: bool = False, engine: str = "auto") -> Vocoder:
    """Loads any model kind (see the module docstring). ``ema``: a checkpoint's EMA weights;
    ``engine`` applies to PyTorch weights (checkpoint, vocos, safetensors): see :class:`TorchVocoder`."""
    kind, file = model_kind(path)
    if kind in WEIGHT_KINDS:
        weights = read_weights(file, device)
        generator = weights.build(device, ema)
        return TorchVocoder(
            generator, weights.source, kind, weights.config, weights.sample_rate, device, engine
        )
    if ema:
        raise ModelError(
            f"{path}: EMA weights come from a training checkpoint (.ckpt); a {kind} export holds one "
            "set of weights"
        )
    config = read_config(file)
    cls = {"torchscript": TorchScriptVocoder, "onnx-stream": StreamingOnnxVocoder}.get(kind, OnnxVocoder)
    return cls(file, config, config["sample_rate"], device)

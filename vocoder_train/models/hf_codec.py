"""Codecs from ``transformers`` as Vocos front ends: EnCodec (``EncodecModel``), DAC (``DacModel``) and
Mimi (``MimiModel``), read from a local model folder, frozen, in eval mode.

    vocoder-train experiment=codec_mimi_24khz codec.path=/models/mimi data.train=... data.val=...

The folder is what ``save_pretrained`` writes (``config.json`` + ``model.safetensors``, or
``pytorch_model.bin``). It is loaded with ``local_files_only`` by the class its ``model_type`` names,
never with remote code; a pickled weights file is first opened with ``weights_only`` (one that would run
code is refused before anything is built). A checkpoint of a run keeps the codec's config and weights,
so it loads where the folder is absent.

The generator's features are the codec's quantized latents, ``(B, latent_dim, frames)``, at a number of
codebooks (``codebooks: [8, 16, 32]``: one conditioning id each, as the EnCodec model's bandwidths), or
(``features: embeddings``) learned code embeddings: one vector per codebook entry, summed over codebooks,
initialised to what each code adds to the latents (the quantizers are residual: the latents are a sum
over codebooks), so training starts from the latents and moves away from them.

Codes are ``(codebooks, B, frames)`` integers (a ``.npy`` of ``(codebooks, frames)``), the layout of
:mod:`vocoder_train.models.codec`; audio at the training rate is resampled to the codec's. One codec frame
is ``training rate / frame rate`` samples, which must be an integer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from vocos.feature_extractors import FeatureExtractor

from vocoder_train.config.checks import select
from vocoder_train.io.audio import resample
from vocoder_train.models.codec import CodecError

FEATURE_KINDS = ("latents", "embeddings")
# transformers config entries that say where and how a model was saved, not what it is
STORED_CONFIG_NOISE = ("_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
PATH_HINT = "a folder that transformers' save_pretrained wrote (config.json + model.safetensors)"


@dataclass(frozen=True)
class CodecLayout:
    """What the vocoder needs to know of a codec, from its config.

    Args:
        sample_rate (int): the codec's audio rate.
        hop (int): codec samples a frame.
        latent_dim (int): channels of the quantized latents.
        codebook_size (int): entries a codebook.
        codebook_counts (tuple[int, ...]): the counts it encodes at.
    """

    sample_rate: int
    hop: int
    latent_dim: int
    codebook_size: int
    codebook_counts: tuple[int, ...]

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def kbps(self, codebooks: int) -> float:
        return codebooks * math.log2(self.codebook_size) * self.frame_rate / 1000.0

    def hop_at(self, rate: int) -> int | None:
        """Samples a frame at ``rate`` Hz, None when that is not an integer."""
        q, r = divmod(int(rate) * self.hop, self.sample_rate)
        return q if r == 0 else None


class CodecFamily:
    """One ``transformers`` codec class, seen through four calls; codes are ``(B, n, frames)`` here."""

    name = ""
    model_class = ""
    config_class = ""

    def layout(self, config: dict) -> CodecLayout:
        raise NotImplementedError

    def problem(self, config: dict) -> str | None:
        """Why a codec of this family cannot be used (None when it can)."""
        return None

    def encode(self, model, audio: torch.Tensor, n: int) -> torch.Tensor:
        """audio (B, 1, T) at the codec's rate -> codes (B, n, frames)."""
        raise NotImplementedError

    def latents(self, model, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, n, frames) -> quantized latents (B, latent_dim, frames)."""
        raise NotImplementedError

    def decode(self, model, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, n, frames) -> audio (B, T) at the codec's rate: the codec's own decoder."""
        raise NotImplementedError


def _prod(values) -> int:
    return int(math.prod(int(v) for v in values))


class EncodecFamily(CodecFamily):
    name, model_class, config_class = "EnCodec", "EncodecModel", "EncodecConfig"

    def _bandwidths(self, config: dict) -> dict[int, float]:
        """codebooks -> the target bandwidth that encodes with that many (EncodecModel takes bandwidths)."""
        hop = _prod(config.get("upsampling_ratios", (8, 5, 4, 2)))
        frame_rate = math.ceil(int(config.get("sampling_rate", 24000)) / hop)
        bits = math.ceil(math.log2(int(config.get("codebook_size", 1024))))
        out = {}
        for b in config.get("target_bandwidths") or (1.5, 3.0, 6.0, 12.0, 24.0):
            out.setdefault(max(1, int(float(b) * 1000 // (frame_rate * bits))), float(b))
        return out

    def layout(self, config: dict) -> CodecLayout:
        counts = tuple(sorted(self._bandwidths(config)))
        return CodecLayout(
            int(config.get("sampling_rate", 24000)),
            _prod(config.get("upsampling_ratios", (8, 5, 4, 2))),
            int(config.get("codebook_dim") or config.get("hidden_size", 128)),
            int(config.get("codebook_size", 1024)),
            counts,
        )

    def problem(self, config: dict) -> str | None:
        if (
            int(config.get("audio_channels", 1)) != 1
            or config.get("chunk_length_s")
            or config.get("normalize")
        ):
            return (
                "an EnCodec with stereo, chunked or normalised input (the 48 kHz model) is not supported; "
                "use a mono, unchunked one (the 24 kHz model)"
            )
        return None

    def encode(self, model, audio, n):
        bandwidth = self._bandwidths(model.config.to_dict())[n]
        return model.encode(audio, bandwidth=bandwidth).audio_codes[0]

    def latents(self, model, codes):
        return model.quantizer.decode(codes.transpose(0, 1))

    def decode(self, model, codes):
        return model.decode(codes[None], [None]).audio_values[:, 0]


class DacFamily(CodecFamily):
    name, model_class, config_class = "DAC", "DacModel", "DacConfig"

    def layout(self, config: dict) -> CodecLayout:
        n = int(config.get("n_codebooks", 9))
        hop = int(config.get("hop_length") or _prod(config.get("downsampling_ratios", (2, 4, 8, 8))))
        return CodecLayout(
            int(config.get("sampling_rate", 16000)),
            hop,
            int(config.get("hidden_size", 1024)),
            int(config.get("codebook_size", 1024)),
            tuple(range(1, n + 1)),
        )

    def encode(self, model, audio, n):
        return model.encode(audio, n_quantizers=n).audio_codes[:, :n]

    def latents(self, model, codes):
        return model.quantizer.from_codes(codes)[0]

    def decode(self, model, codes):
        return model.decode(audio_codes=codes).audio_values


def _mimi_rates(config: dict) -> tuple[int, float]:
    """(sampling rate, frame rate) of a MimiConfig's dict; transformers 5 saves the frame rate as
    ``_frame_rate``, earlier versions as ``frame_rate``."""
    frame_rate = config.get("frame_rate", config.get("_frame_rate"))
    return int(config.get("sampling_rate", 24000)), float(12.5 if frame_rate is None else frame_rate)


class MimiFamily(CodecFamily):
    name, model_class, config_class = "Mimi", "MimiModel", "MimiConfig"

    def layout(self, config: dict) -> CodecLayout:
        rate, frame_rate = _mimi_rates(config)
        n, semantic = int(config.get("num_quantizers", 32)), int(config.get("num_semantic_quantizers", 1))
        return CodecLayout(
            rate,
            round(rate / frame_rate),
            int(config.get("hidden_size", 512)),
            int(config.get("codebook_size", 2048)),
            tuple(range(max(1, semantic), n + 1)),
        )

    def problem(self, config: dict) -> str | None:
        rate, frame_rate = _mimi_rates(config)
        if abs(rate / frame_rate - round(rate / frame_rate)) > 1e-9:
            return f"its frame rate {frame_rate:g} Hz is not a whole number of samples at its {rate} Hz"
        return None

    def encode(self, model, audio, n):
        return model.encode(audio, num_quantizers=n).audio_codes

    def latents(self, model, codes):
        return model.quantizer.decode(codes)

    def decode(self, model, codes):
        return model.decode(codes).audio_values[:, 0]


FAMILIES: dict[str, CodecFamily] = {"encodec": EncodecFamily(), "dac": DacFamily(), "mimi": MimiFamily()}
SUPPORTED = ", ".join(f"{f.model_class} ({t})" for t, f in FAMILIES.items())


def _unset(path) -> bool:
    return path is None or str(path) in ("", "None", "???")


def read_codec_config(path, key: str = "codec.path") -> dict:
    """The ``config.json`` of a codec folder, checked to name a supported family (else CodecError)."""
    problem = folder_problem(path, key)
    if problem:
        raise CodecError(problem)
    return json.loads((Path(str(path)).expanduser() / "config.json").read_text(encoding="utf-8"))


def folder_problem(path, key: str) -> str | None:
    """Why ``path`` is not a folder of a supported ``transformers`` codec with weights that load without
    running code (None when it is). Reads config.json and, for a pickled weights file, opens it with
    ``weights_only``."""
    if _unset(path):
        return f"{key} is not set: pass {key}=/path/to/codec ({PATH_HINT}); nothing is downloaded"
    p = Path(str(path)).expanduser()
    if not p.is_dir():
        what = "no such folder" if not p.exists() else "a file, not a folder"
        return f"{key}={path}: {what} (looked at {p.resolve()}); pass {PATH_HINT}"
    if not (p / "config.json").is_file():
        return f"{key}={path}: no config.json in this folder; pass {PATH_HINT}"
    try:
        config = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"{key}={path}: config.json is not readable JSON ({e})"
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind not in FAMILIES:
        return f"{key}={path}: a {kind or 'unnamed'} model, not a supported codec; supported: {SUPPORTED}"
    problem = FAMILIES[kind].problem(config)
    if problem:
        return f"{key}={path}: {problem}"
    return weights_problem(p, key)


def weights_problem(folder: Path, key: str) -> str | None:
    """Why the weights of a codec folder cannot be read safely (None when they can)."""
    names = [n for n in WEIGHT_FILES if (folder / n).is_file()]
    if not names:
        return f"{key}={folder}: no weights ({' or '.join(WEIGHT_FILES[::2])}) in this folder"
    if names[0].startswith("model.safetensors"):
        return None
    from vocoder_train.io.checkpoint import CheckpointError, load_checkpoint
    from vocoder_train.io.filekind import WrongFileKind

    try:
        load_checkpoint(folder / names[0])
    except (CheckpointError, WrongFileKind) as e:
        return f"{key}={folder}: {e}"
    return None


def family_of(config: dict) -> CodecFamily:
    kind = config.get("model_type")
    if kind not in FAMILIES:
        raise CodecError(f"a {kind or 'unnamed'} model is not a supported codec; supported: {SUPPORTED}")
    return FAMILIES[kind]


def _quiet_transformers():
    try:
        import transformers
    except ImportError as e:
        raise CodecError(
            "the transformers codecs need the package transformers: pip install 'vocoder_train[codecs]'"
        ) from e

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def load_codec(path=None, codec_config: dict | None = None, key: str = "codec.path") -> nn.Module:
    """The codec model of the folder ``path`` (its own weights), or, without a path, one built from
    ``codec_config`` with random weights that a checkpoint's state dict replaces. Frozen, in eval mode."""
    transformers = _quiet_transformers()
    if not _unset(path):
        config = read_codec_config(path, key)
        family = FAMILIES[config["model_type"]]
        folder = Path(str(path)).expanduser()
        cls = getattr(transformers, family.model_class)
        safetensors = (folder / WEIGHT_FILES[0]).is_file() or (folder / WEIGHT_FILES[1]).is_file()
        try:
            model = cls.from_pretrained(str(folder), local_files_only=True, use_safetensors=safetensors)
        except Exception as e:  # noqa: BLE001 - any unloadable folder gets the same advice
            raise CodecError(
                f"{key}={path}: transformers could not load it as {family.model_class} "
                f"({type(e).__name__}: {str(e)[:300]})"
            ) from e
    elif codec_config is not None:
        family = family_of(codec_config)
        config_cls = getattr(transformers, family.config_class)
        args = {k: v for k, v in codec_config.items() if k not in ("model_type", "transformers_version")}
        model = getattr(transformers, family.model_class)(config_cls(**args))
    else:
        raise CodecError(f"{key} is not set: pass {key}=/path/to/codec ({PATH_HINT}); nothing is downloaded")
    for param in model.parameters():
        param.requires_grad = False
    return model.eval()


def codec_layout(path=None, codec_config: dict | None = None) -> CodecLayout:
    config = codec_config if codec_config is not None else read_codec_config(path)
    return family_of(config).layout(config)


def _kbps_label(kbps: float) -> str:
    return f"{float(f'{kbps:.3g}'):g}kbps"


class TransformersCodecFeatures(FeatureExtractor):
    """A frozen ``transformers`` codec's quantized latents (or learned code embeddings) as features.

    Args:
        path (str | None): the codec's folder; None: built from ``codec_config`` (weights from a checkpoint).
        codec_config (dict | None): the codec's config (a checkpoint stores it).
        codebooks (Sequence[int]): codebook counts to train at, one conditioning id each.
        features (str): "latents" (the codec's quantized latents) or "embeddings" (learned code embeddings).
        sample_rate (int): the training rate; audio is resampled to the codec's.
    """

    takes_codes = True

    def __init__(
        self,
        path: str | None = None,
        codec_config: dict | None = None,
        codebooks: Sequence[int] = (8,),
        features: str = "latents",
        sample_rate: int = 24000,
    ):
        super().__init__()
        if features not in FEATURE_KINDS:
            raise CodecError(f"features={features!r}: use one of {', '.join(FEATURE_KINDS)}")
        self.codec = load_codec(path, codec_config)
        config = self.codec.config.to_dict()
        self.family = family_of(config)
        self.layout = self.family.layout(config)
        problems = codebook_problems(list(codebooks), self.layout, "codebooks")
        self.hop_length = self.layout.hop_at(sample_rate)
        if self.hop_length is None:
            problems.append(rate_problem(self.layout, sample_rate, "sample_rate"))
        if problems:
            raise CodecError("; ".join(problems))
        self.codebooks = [int(n) for n in codebooks]
        self.sample_rate, self.features_kind = int(sample_rate), features
        self.codec_name = self.family.name
        self.code_embeddings = (
            nn.Parameter(self.code_vectors(max(self.codebooks))) if features == "embeddings" else None
        )

    # -- conditioning ---------------------------------------------------------------------------------

    @property
    def conditions(self) -> int:
        return len(self.codebooks)

    @property
    def bandwidths(self) -> list[float]:
        return [self.layout.kbps(n) for n in self.codebooks]

    @property
    def condition_labels(self) -> list[str]:
        return [_kbps_label(b) for b in self.bandwidths]

    def _index(self, bandwidth_id) -> int:
        if bandwidth_id is None:
            if len(self.codebooks) == 1:
                return 0
            raise CodecError(
                f"this front end encodes at {len(self.codebooks)} codebook counts: pass bandwidth_id "
                f"(0..{len(self.codebooks) - 1} for {', '.join(self.condition_labels)})"
            )
        return int(torch.as_tensor(bandwidth_id).reshape(-1)[0])

    # -- the codec ------------------------------------------------------------------------------------

    def train(self, mode: bool = True):
        """The codec stays in eval mode (Lightning puts children back in train mode every epoch)."""
        super().train(mode)
        self.codec.eval()
        return self

    def _to_codec_rate(self, audio: torch.Tensor) -> torch.Tensor:
        return resample(audio.float(), self.sample_rate, self.layout.sample_rate)

    @torch.no_grad()
    def codes(self, audio: torch.Tensor, bandwidth_id: int) -> torch.Tensor:
        """audio (B, T) at the training rate -> codes (codebooks, B, frames)."""
        self.codec.eval()
        n = self.codebooks[int(bandwidth_id)]
        return self.family.encode(self.codec, self._to_codec_rate(audio)[:, None], n).transpose(0, 1)

    def _checked(self, codes: torch.Tensor) -> torch.Tensor:
        codes = codes.unsqueeze(1) if codes.dim() == 2 else codes
        n = codes.shape[0]
        if codes.dim() != 3 or n not in self.layout.codebook_counts or n > max(self.codebooks):
            raise CodecError(
                f"codes of shape {tuple(codes.shape)}: this model takes (codebooks, B, frames) with "
                f"{' / '.join(map(str, self.codebooks))} codebooks"
            )
        if (
            codes.dtype.is_floating_point
            or int(codes.min()) < 0
            or int(codes.max()) >= self.layout.codebook_size
        ):
            raise CodecError(f"codes must be integers in 0..{self.layout.codebook_size - 1}")
        return codes.long()

    def codes_to_features(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (codebooks, frames) or (codebooks, B, frames) -> features (B, latent_dim, frames)."""
        codes = self._checked(codes)
        if self.code_embeddings is None:
            with torch.no_grad():
                return self.family.latents(self.codec, codes.transpose(0, 1)).float()
        bins = self.layout.codebook_size
        offsets = torch.arange(0, bins * codes.shape[0], bins, device=codes.device).view(-1, 1, 1)
        return nn.functional.embedding(codes + offsets, self.code_embeddings).sum(dim=0).transpose(1, 2)

    @torch.no_grad()
    def code_vectors(self, n: int) -> torch.Tensor:
        """(n * codebook_size, latent_dim): what each code of each of the first ``n`` codebooks adds to the
        latents. The quantizers are residual, the latents of codes ``c`` a sum of one term per codebook,
        so codebook i's term for code k is the latents of the first i + 1 codebooks with codebook i at k and
        the others at 0, less those of the first i at 0; one vector per codebook, summed, gives the codec's
        latents exactly, at every codebook count."""
        bins = self.layout.codebook_size
        rows, before = [], 0.0
        for i in range(n):
            codes = torch.zeros(1, i + 1, bins, dtype=torch.long)
            codes[0, i] = torch.arange(bins)
            rows.append(self.family.latents(self.codec, codes)[0].T - before)
            before = self.family.latents(self.codec, torch.zeros(1, i + 1, 1, dtype=torch.long))[0].T
        return torch.cat(rows).float()

    def forward(self, audio: torch.Tensor, **kwargs) -> torch.Tensor:
        """audio (B, T) at the training rate (and ``bandwidth_id`` (1,) with several codebook counts) ->
        features (B, latent_dim, frames)."""
        return self.codes_to_features(self.codes(audio, self._index(kwargs.get("bandwidth_id"))))

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """The codec's own decoder: codes (codebooks, B, frames) -> audio (B, frames * hop) at the
        training rate, the baseline a decoder of its codes is compared with."""
        self.codec.eval()
        codes = self._checked(codes)
        audio = self.family.decode(self.codec, codes.transpose(0, 1)).float()
        audio = resample(audio, self.layout.sample_rate, self.sample_rate)
        length = codes.shape[-1] * self.hop_length
        return nn.functional.pad(audio, (0, max(0, length - audio.shape[-1])))[..., :length]

    def stored_init_args(self) -> dict:
        """What a stored config holds so that this front end is built without its folder: the codec's
        config (the settings that differ from transformers' defaults; the weights come with the state
        dict) and no path of the machine it was trained on."""
        config = self.codec.config.to_diff_dict()
        config = {k: v for k, v in config.items() if k not in STORED_CONFIG_NOISE}
        return {"path": None, "codec_config": {"model_type": self.codec.config.model_type, **config}}

    # -- what the config checks and the store read ---------------------------------------------------

    @staticmethod
    def _node_layout(node) -> CodecLayout | None:
        stored = select(node, "codec_config")
        try:
            if stored is not None:
                from omegaconf import OmegaConf

                stored = OmegaConf.to_container(stored) if not isinstance(stored, dict) else stored
                return codec_layout(codec_config=stored)
            path = select(node, "path")
            return None if folder_problem(path, "codec.path") else codec_layout(path)
        except (CodecError, KeyError, TypeError, ValueError):
            return None

    @classmethod
    def frame_layout(cls, node) -> tuple[int | None, int | None]:
        """(hop length at the training rate, latent channels), from the codec's config."""
        layout = cls._node_layout(node)
        rate = select(node, "sample_rate")
        if layout is None:
            return None, None
        return (layout.hop_at(rate) if isinstance(rate, int) else None), layout.latent_dim

    @classmethod
    def stored_bandwidths(cls, init_args: dict) -> list[float]:
        """The kbps of each conditioning id of a stored config."""
        layout = codec_layout(codec_config=init_args.get("codec_config"), path=init_args.get("path"))
        return [layout.kbps(int(n)) for n in init_args.get("codebooks") or (8,)]

    @classmethod
    def stored_codebooks(cls, init_args: dict) -> list[int]:
        return [int(n) for n in init_args.get("codebooks") or (8,)]

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """The folder holds a supported codec with safe weights, the codebook counts exist, one codec
        frame is a whole number of samples at the training rate, and the backbone takes one conditioning
        id per codebook count."""
        problems = []
        kind = select(node, "features") or "latents"
        if kind not in FEATURE_KINDS:
            problems.append(f"{key}.features={kind!r}: use one of {', '.join(FEATURE_KINDS)}")
        if select(node, "codec_config") is None:
            problem = folder_problem(select(node, "path"), "codec.path")
            if problem:
                return [*problems, problem]
        layout = cls._node_layout(node)
        if layout is None:
            return [*problems, f"{key}.codec_config: not the config of a supported codec ({SUPPORTED})"]
        codebooks = select(node, "codebooks")
        codebooks = list(codebooks) if codebooks is not None else [8]
        problems += codebook_problems(codebooks, layout, f"{key}.codebooks")
        rate = select(cfg, "audio.sample_rate")
        if isinstance(rate, int) and layout.hop_at(rate) is None:
            problems.append(rate_problem(layout, rate, "audio.sample_rate"))
        parent = key.rsplit(".", 1)[0]
        n = select(cfg, f"{parent}.backbone.adanorm_num_embeddings")
        want = len(codebooks) if len(codebooks) > 1 else None
        if n != want:
            problems.append(
                f"{parent}.backbone.adanorm_num_embeddings={n}: set it to {want} (one conditioning id per "
                f"entry of {key}.codebooks, none for a single count)"
            )
        return problems


def codebook_problems(codebooks: list, layout: CodecLayout, key: str) -> list[str]:
    counts = ", ".join(map(str, layout.codebook_counts))
    if not codebooks:
        return [f"{key}: at least one codebook count is needed (the codec encodes at {counts})"]
    return [
        f"{key} has {n!r}: the codec encodes at {counts} codebooks"
        for n in codebooks
        if not isinstance(n, int) or n not in layout.codebook_counts
    ]


def rate_problem(layout: CodecLayout, rate: int, key: str) -> str:
    exact = rate / layout.frame_rate
    fits = [r for r in (16000, 22050, 24000, 32000, 44100, 48000) if layout.hop_at(r) is not None]
    return (
        f"{key}={rate}: the codec gives {layout.frame_rate:g} frames a second ({layout.hop} samples at its "
        f"{layout.sample_rate} Hz), {exact:g} samples a frame at {rate} Hz, not a whole number; train at a "
        f"rate where it is ({', '.join(map(str, fits)) or f'a multiple of {layout.frame_rate:g} Hz'})"
    )

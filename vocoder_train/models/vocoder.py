"""Vocoders: a loaded model of any kind as features -> audio, and the engine that decodes PyTorch weights.

    vocoder = load_vocoder("runs/demo/checkpoints/last.ckpt")   # any kind vocoder_train.models.store finds
    audio = vocoder.decode(mel)                                # (B, n_mels, L) -> (B, T), on the CPU

A model whose front end is :class:`~vocoder_train.models.frontends.PrecomputedFeatures` decodes features
made elsewhere (``takes_audio`` is false); ``n_mels`` is then their channel count.

:func:`load_vocoder` gives a :class:`TorchVocoder` for PyTorch weights (a checkpoint, a vocos folder, a
safetensors export; decoded by one of :data:`ENGINES`), or, for the traced graphs
(:mod:`vocoder_train.models.graph_vocoders`), a :class:`TorchScriptVocoder`, an
:class:`OnnxVocoder` or a :class:`StreamingOnnxVocoder`. Every kind streams
(``vocoder.stream()``, :mod:`vocoder_train.models.inference.streaming`): causal generators exactly with
carried state, others with a look-ahead.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from vocoder_train.models.generator import match_length
from vocoder_train.models.store import CODEC_FILE, WEIGHT_KINDS, model_kind, read_config, read_weights
from vocoder_train.models.stored_config import ModelError, init_args
from vocoder_train.models.upsampling import frame_factor

ENGINES = ("auto", "fused", "eager", "fused-bf16")
# engine="auto" takes fused-bf16 only where bf16 is native and its output on a probe stays this close
# (max abs) to the fp32 decode, which equals vocos.Vocos.decode to float rounding
AUTO_BF16_TOLERANCE = 1e-4


class Vocoder:
    """A loaded model of any kind: features ``(B, C, L)`` -> audio ``(B, T)``; ``n_mels`` is C (the mel
    bins of a mel model, the channels of precomputed features).

    Args:
        source (Path): the file or folder it was loaded from (for messages).
        kind (str): "checkpoint", "vocos", "safetensors", "torchscript", "onnx" or "onnx-stream".
        vocos_config (dict): the vocos ``config.yaml`` content (class_path/init_args per part).
        sample_rate (int): the model's rate in Hz.
        device (str): where decoding runs; inputs and outputs are CPU tensors.
    """

    def __init__(self, source: Path, kind: str, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        self.source, self.kind, self.config = Path(source), kind, vocos_config
        self.sample_rate, self.device = int(sample_rate), device
        fe, head = init_args(vocos_config, "feature_extractor"), init_args(vocos_config, "head")
        # samples a feature frame: the head's hop times the frames an upsampling backbone makes of one
        self.hop_length = int(
            head.get("hop_length") or head.get("mdct_frame_len", 0) // 2 or fe.get("hop_length")
        ) * frame_factor(init_args(vocos_config, "backbone"))
        self.n_fft = int(head.get("n_fft") or head.get("mdct_frame_len") or 4 * self.hop_length)
        self.padding = head.get("padding", "same")
        self.n_mels = int(
            fe.get("n_mels")
            or fe.get("channels")
            or init_args(vocos_config, "backbone").get("input_channels")
        )
        self._feature_extractor: torch.nn.Module | None = None
        self.condition: int | None = None  # a conditioned model's id (EnCodec: bandwidth), see set_bandwidth

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

    @property
    def takes_audio(self) -> bool:
        """False when the model decodes precomputed features only (its front end computes none from audio,
        :class:`~vocoder_train.models.frontends.PrecomputedFeatures`): inputs are ``.npy`` features."""
        try:
            return bool(getattr(self.feature_extractor, "takes_audio", True))
        except ModelError:  # a front end that cannot be built: features() says so when asked
            return True

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) at ``sample_rate`` -> features (B, C, L), on the CPU; a codec model encodes at the
        current bandwidth (:meth:`set_bandwidth`)."""
        kwargs = {"bandwidth_id": self._condition_input()} if self.conditions else {}
        with torch.inference_mode():
            return self.feature_extractor(audio.float().cpu(), **kwargs)

    def probe_features(self) -> torch.Tensor:
        """(1, C, L): the features of a 1 s synthetic voiced signal, or stand-in ones (seeded) for a model
        that takes precomputed features."""
        if self.takes_audio:
            return self.features(_probe_audio(self.sample_rate))
        return self.feature_extractor.example(self.sample_rate // self.hop_length)

    def _build_feature_extractor(self) -> torch.nn.Module:
        from hydra.utils import instantiate

        from vocoder_train.models.generator import STORED_FRONT_ENDS

        node = self.config["feature_extractor"]
        args = dict(node.get("init_args", {}))
        target = node["class_path"]
        codec = (self.source if self.source.is_dir() else self.source.parent) / CODEC_FILE
        if codec.is_file() and target in STORED_FRONT_ENDS:  # a graph's codec, saved beside it
            target = STORED_FRONT_ENDS[target]
            args.pop("path", None)
        try:
            fe = instantiate({"_target_": target, **args}, _convert_="all")
            if codec.is_file():
                from safetensors.torch import load_file

                fe.load_state_dict(load_file(str(codec)))
            return fe.eval()
        except Exception as e:
            raise ModelError(
                f"{self.source}: cannot build its feature extractor {node.get('class_path')} ({e}); "
                "give it precomputed features as .npy files instead of audio"
            ) from e

    @property
    def conditions(self) -> int:
        """Conditioning ids the model takes (vocos' AdaLN backbone: the EnCodec model's bandwidths); 0:
        none."""
        return int(init_args(self.config, "backbone").get("adanorm_num_embeddings") or 0)

    def _condition(self) -> int | None:
        """The conditioning id to run at: the one set (:meth:`set_bandwidth`), else the last (the EnCodec
        model's highest bandwidth); None for a model without conditioning."""
        if not self.conditions:
            return None
        return self.conditions - 1 if self.condition is None else self.condition

    def _condition_input(self) -> torch.Tensor:
        return torch.tensor([self._condition()], dtype=torch.int64)

    def _codec_class(self):
        """The class of a codec front end (one that decodes codes), None for other models."""
        from vocoder_train.models.generator import STORED_FRONT_ENDS, _target_class

        target = (self.config.get("feature_extractor") or {}).get("class_path", "")
        cls = _target_class(STORED_FRONT_ENDS[target]) if target in STORED_FRONT_ENDS else None
        return cls if getattr(cls, "takes_codes", False) else None

    @property
    def bandwidths(self) -> list[float]:
        """The bandwidths (kbps) of a model decoding codec codes, its conditioning ids in order; [] else."""
        cls = self._codec_class()
        return [] if cls is None else cls.stored_bandwidths(init_args(self.config, "feature_extractor"))

    def set_bandwidth(self, kbps: float) -> None:
        """Decode (and encode audio) at ``kbps``, one of :attr:`bandwidths` (to 3 significant digits)."""
        matches = [i for i, b in enumerate(self.bandwidths) if f"{float(b):.3g}" == f"{float(kbps):.3g}"]
        if not matches:
            choices = ", ".join(f"{float(b):.3g}" for b in self.bandwidths) or "none: it is not a codec model"
            raise ModelError(
                f"{self.source}: bandwidth {float(kbps):g} kbps: the model's bandwidths are {choices}"
            )
        self.condition = matches[0]

    @property
    def codebook_counts(self) -> list[int]:
        """The codebook count of each bandwidth of a model decoding codec codes, in :attr:`bandwidths`'
        order; [] else."""
        cls = self._codec_class()
        return [] if cls is None else cls.stored_codebooks(init_args(self.config, "feature_extractor"))

    def set_codebooks(self, n: int) -> None:
        """Decode (and encode audio) with ``n`` codebooks, one of :attr:`codebook_counts`: the bandwidth
        that uses them."""
        counts = self.codebook_counts
        if int(n) not in counts:
            choices = ", ".join(map(str, counts)) or "none: it is not a codec model"
            raise ModelError(f"{self.source}: {n} codebooks: the model decodes {choices}")
        self.condition = counts.index(int(n))

    def codes_to_features(self, codes: torch.Tensor) -> torch.Tensor:
        """Codec codes (codebooks, L) or (codebooks, B, L) integers -> features (B, C, L); the codebook
        count must be the current bandwidth's."""
        if not self.bandwidths:
            raise ModelError(f"{self.source}: decodes {self.n_mels}-channel features, not codec codes")
        i = self.condition if self.condition is not None else -1
        kbps = self.bandwidths[i]
        want = self.codebook_counts[i]
        if codes.dtype.is_floating_point or codes.shape[0] != want:
            raise ModelError(
                f"codes of shape {tuple(codes.shape)} ({codes.dtype}): at {float(kbps):g} kbps the model "
                f"takes {want} codebooks of integers, shape ({want}, frames); pass the bandwidth or codebook "
                "count the codes were made at"
            )
        with torch.inference_mode():
            return self.feature_extractor.codes_to_features(codes.cpu()).cpu()

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
        from vocoder_train.models.inference.stream_step import NotStreamable
        from vocoder_train.models.inference.streaming import lookahead_streamer

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
    generator itself. Generators the fused path does not cover (IMDCT heads, a mel
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
        probe = self.probe_features()
        with torch.inference_mode():
            c = self._condition()
            error = float((self.fused(probe.to(self.device), c) - fp32(probe.to(self.device), c)).abs().max())
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
            return self.generator.features(audio.to(self.device), self._condition()).cpu()

    def round_trips(self) -> int:
        # from the modules themselves: a config may leave refine_iters at the head's default
        return int(getattr(self.generator.head, "refine_iters", 0)) + int(
            getattr(self.generator, "mel_passes", 0)
        )

    def stream(self, lookahead: int | None = None):
        """A causal generator streams exactly with carried state (``lookahead`` must be None);
        others as :meth:`Vocoder.stream`."""
        from vocoder_train.models.causal import is_causal
        from vocoder_train.models.inference.stream_step import StreamingVocos, torch_step
        from vocoder_train.models.inference.streaming import CarriedStateStreamer

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
                return self.fused(mel.to(self.device), self._condition()).cpu()
            return self.generator.synthesize(mel.to(self.device), self._condition()).float().cpu()


def _probe_audio(sample_rate: int, seconds: float = 1.0) -> torch.Tensor:
    """(1, T): a voiced harmonic sweep with noise, the probe that engine="auto" decodes."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 110.0 + 90.0 * t / seconds
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / sample_rate
    x = sum(0.3 / k * torch.sin(k * phase) for k in range(1, 12))
    return (x + 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(0)))[None].float()


def load_vocoder(path: str | Path, device: str = "cpu", ema: bool = False, engine: str = "auto") -> Vocoder:
    """Loads any model kind (see :mod:`vocoder_train.models.store`). ``ema``: a checkpoint's EMA weights;
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
    from vocoder_train.models.graph_vocoders import OnnxVocoder, StreamingOnnxVocoder, TorchScriptVocoder

    config = read_config(file)
    cls = {"torchscript": TorchScriptVocoder, "onnx-stream": StreamingOnnxVocoder}.get(kind, OnnxVocoder)
    return cls(file, config, config["sample_rate"], device)

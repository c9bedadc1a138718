"""The generator: a ``vocos.Vocos`` built from vocos' own classes.

:class:`VocosGenerator` *is* a ``vocos.Vocos`` (same submodules, same parameter names),
so its weights load into ``vocos.Vocos`` unchanged; its state dict leaves out the buffers rebuilt
from the config (windows, filterbanks), which :func:`vocoder_train.io.buffers.vocos_state_dict`
adds back for upstream ``Vocos``. It only adds training-mode
forwards (``Vocos.forward``/``decode`` run under ``torch.inference_mode``) and keeps the
feature extractor and the Fourier head in fp32 under autocast: the ISTFT has no bf16
kernel on CPU and loses accuracy in half precision.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf
from vocos import Vocos
from vocos.feature_extractors import MelSpectrogramFeatures

from vocoder_train.dsp import mel_projection
from vocoder_train.io.buffers import make_transient
from vocoder_train.models.upsampling import frame_factor


class VocosGenerator(Vocos):
    """Mel (or other features) -> waveform generator.

    Args:
        feature_extractor (vocos.feature_extractors.FeatureExtractor): audio (B, T) -> features (B, C, L).
        backbone (vocos.models.Backbone): features (B, C, L) -> hidden (B, L, H).
        head (vocos.heads.FourierHead): hidden (B, L, H) -> audio (B, T').
    """

    def __init__(self, feature_extractor, backbone, head, mel_passes: int = 0):
        """``mel_passes``: in eval mode, make the output's mel agree with the input mel with that
        many correction passes (:func:`vocoder_train.dsp.mel_projection`); needs a
        ``vocos.feature_extractors.MelSpectrogramFeatures`` with centred frames. 0: off (vocos' output)."""
        super().__init__(feature_extractor, backbone, head)
        self.mel_passes = int(mel_passes)
        if self.mel_passes < 0:
            raise ValueError(f"model.generator.mel_passes={mel_passes}: must be >= 0 (0 turns it off)")
        if self.mel_passes and not (
            isinstance(feature_extractor, MelSpectrogramFeatures) and feature_extractor.padding == "center"
        ):
            raise ValueError(
                f"model.generator.mel_passes={mel_passes} needs "
                "vocos.feature_extractors.MelSpectrogramFeatures "
                f"with padding: center (got {type(feature_extractor).__name__}"
                + (f", padding {feature_extractor.padding}" if hasattr(feature_extractor, "padding") else "")
                + "); "
                "set mel_passes: 0"
            )
        make_transient(self)  # checkpoints hold weights only: windows and filterbanks come from the config

    @classmethod
    def config_problems(cls, node: DictConfig, key: str, cfg: DictConfig) -> list[str]:
        """The parts fit together: the head advances one sample hop per feature frame, the backbone
        takes the front end's channels and feeds the head its width, and padding loses no frame."""
        fe, bb, head = (node.get(k) for k in ("feature_extractor", "backbone", "head"))
        if fe is None or bb is None or head is None:
            return [f"{key}: needs feature_extractor, backbone and head"]
        p: list[str] = []
        fe_hop, channels = frame_layout(fe)
        head_hop = head.get("hop_length", head.get("mdct_frame_len", 0) // 2 or None)
        factor = frame_factor(bb)
        if fe_hop and head_hop and fe_hop != head_hop * factor:
            if factor == 1:
                p.append(
                    f"{key}.head hop {head_hop} != feature_extractor.hop_length={fe_hop}: "
                    "the head must advance one frame per feature frame"
                )
            else:
                p.append(
                    f"{key}.head hop {head_hop} x backbone.upsample {factor} != the features' hop {fe_hop}: "
                    f"the head must advance one frame per backbone frame (hop {fe_hop / factor:g})"
                )
        if channels and bb.get("input_channels") and channels != bb.input_channels:
            p.append(
                f"{key}.backbone.input_channels={bb.input_channels} != {channels}, the channels of "
                "feature_extractor's features"
            )
        if head.get("dim") and bb.get("dim") and head.dim != bb.dim:
            p.append(f"{key}.head.dim={head.dim} != backbone.dim={bb.dim}")
        # "same" padding (vocos.spectral_ops.ISTFT, MelSpectrogramFeatures) pads (n_fft - hop) // 2 a side:
        # an odd difference gives one sample (head) or one frame (features) too few, e.g. "348 vs 347 frames".
        for part, sub in (("feature_extractor", fe), ("head", head)):
            n, h = sub.get("n_fft"), sub.get("hop_length")
            if sub.get("padding") == "same" and isinstance(n, int) and isinstance(h, int) and (n - h) % 2:
                p.append(
                    f"{key}.{part}: n_fft={n} - hop_length={h} is odd: 'same' padding would lose a "
                    f"{'frame' if part == 'feature_extractor' else 'sample'} (the 348-vs-347 crash); "
                    f"give n_fft and hop_length the same parity, e.g. hop_length={h + 1} or n_fft={n + 1}"
                )
        n, h = head.get("n_fft"), head.get("hop_length")
        if str(head.get("_target_", "")).endswith("ISTFTHead") and n is not None and h and n <= h:
            p.append(f"{key}.head.n_fft={n} <= hop_length={h}: the ISTFT needs overlapping frames")
        return p

    @property
    def conditions(self) -> int:
        """Conditioning ids the backbone takes (vocos' AdaLN, ``adanorm_num_embeddings``: for the EnCodec
        model one per bandwidth); 0: an unconditioned generator."""
        return self.backbone.norm.scale.num_embeddings if getattr(self.backbone, "adanorm", False) else 0

    @property
    def condition_labels(self) -> list[str]:
        """A name per conditioning id (the front end's, e.g. "6kbps"; else "0", "1", ...)."""
        labels = getattr(self.feature_extractor, "condition_labels", None)
        return list(labels) if labels else [str(i) for i in range(self.conditions)]

    def _condition_kwargs(
        self, condition: torch.Tensor | int | None, device: torch.device, required: bool = True
    ) -> dict:
        if not self.conditions or (condition is None and not required):
            return {}
        if condition is None:
            raise ValueError(
                f"this generator is conditioned on {self.conditions} ids "
                f"({', '.join(self.condition_labels)}): pass one (a bandwidth id)"
            )
        condition = torch.as_tensor(condition, device=device).reshape(-1)[:1].long()
        if not 0 <= int(condition) < self.conditions:
            raise ValueError(f"condition {int(condition)}: this generator takes ids 0..{self.conditions - 1}")
        return {"bandwidth_id": condition}  # vocos' keyword, read by its backbone and EnCodec front end

    def features(self, audio: torch.Tensor, condition: torch.Tensor | int | None = None) -> torch.Tensor:
        """audio (B, T) -> features (B, C, L), in fp32. ``condition``: the conditioning id of a conditioned
        generator (the EnCodec front end encodes at that bandwidth)."""
        # a front end that needs the id (EnCodec's bandwidth) says so; a mel front end takes none
        kwargs = self._condition_kwargs(condition, audio.device, required=False)
        with torch.autocast(device_type=audio.device.type, enabled=False):
            return self.feature_extractor(audio.float(), **kwargs)

    def synthesize(self, features: torch.Tensor, condition: torch.Tensor | int | None = None) -> torch.Tensor:
        """features (B, C, L) -> audio (B, L * hop). Backbone under the ambient autocast, head in fp32.
        ``condition``: the conditioning id of a conditioned generator."""
        hidden = self.backbone(features, **self._condition_kwargs(condition, features.device))
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            audio = self.head(hidden.float())
            if self.mel_passes and not self.training:
                audio = mel_projection(
                    audio, features.float(), self.feature_extractor.mel_spec, self.mel_passes
                )
            return audio

    def synthesize_with_spectrum(
        self, features: torch.Tensor, condition: torch.Tensor | int | None = None
    ) -> Synthesis:
        """features (B, C, L) -> :class:`Synthesis`: audio (B, L * hop) and the head's complex spectrum
        (B, n_fft // 2 + 1, L), for losses on the spectrum. Needs a head with a ``spectrum`` method
        (e.g. ConsistencyISTFTHead); the eval-mode mel projection is not applied."""
        if not hasattr(self.head, "spectrum"):
            raise ValueError(
                f"a loss needs the head's spectrum, but {type(self.head).__name__} has none: use "
                "model.generator.head._target_=vocoder_train.models.heads.ConsistencyISTFTHead"
            )
        hidden = self.backbone(features, **self._condition_kwargs(condition, features.device))
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            spectrum = self.head.spectrum(hidden.float())
            return Synthesis(self.head.istft(spectrum), spectrum)

    def forward(  # noqa: D401 - training forward
        self, audio: torch.Tensor, condition: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """Copy synthesis with autograd: audio (B, T) -> audio (B, T), trimmed/padded to T."""
        return match_length(self.synthesize(self.features(audio, condition), condition), audio.shape[-1])


def frame_layout(node: DictConfig | dict) -> tuple[int | None, int | None]:
    """(hop length in samples, channels) of the features that the front end configured by ``node``
    gives. A front-end class declares them with a ``frame_layout(node)`` classmethod; a mel front end
    without one (vocos' own) has ``hop_length`` and ``n_mels``."""
    declared = getattr(_target_class(str(node.get("_target_"))), "frame_layout", None)
    if declared is not None:
        return declared(node)
    return node.get("hop_length"), node.get("n_mels")


class Synthesis(NamedTuple):
    """Generated audio (B, T) and the head's complex spectrum (B, n_fft // 2 + 1, L) it came from."""

    audio: torch.Tensor
    spectrum: torch.Tensor


def match_length(audio: torch.Tensor, length: int) -> torch.Tensor:
    """Trims or zero-pads the last dimension to ``length``."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    return torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))


# -- vocos config.yaml <-> Hydra config -------------------------------------------------------


def to_vocos_config(generator_cfg: DictConfig | dict, sample_rate: int | None = None) -> dict:
    """Hydra generator config (``_target_`` style) -> vocos ``config.yaml`` dict
    (``class_path``/``init_args``)."""
    cfg = (
        OmegaConf.to_container(generator_cfg, resolve=True)
        if isinstance(generator_cfg, DictConfig)
        else dict(generator_cfg)
    )
    out: dict = {}
    for part in ("feature_extractor", "backbone", "head"):
        node = dict(cfg[part])
        target = node.pop("_target_")
        out[part] = {"class_path": target, "init_args": node}
    if cfg.get("mel_passes"):  # vocoder_train's own key: vocos' from_hparams ignores it
        out["mel_passes"] = int(cfg["mel_passes"])
    if sample_rate is not None:
        out["sample_rate"] = int(sample_rate)
    return out


# Front ends whose stored form is built without the training machine's codec file or folder: vocos' EnCodec
# front end downloads its codec when built, ours reads it from a file or takes it from the state dict
# (vocoder_train.models.codec); a transformers codec is built from the config stored with it
# (vocoder_train.models.hf_codec). A stored config of these drops ``path``.
STORED_FRONT_ENDS = {
    "vocos.feature_extractors.EncodecFeatures": "vocoder_train.models.codec.EncodecFeatures",
    "vocoder_train.models.codec.EncodecFeatures": "vocoder_train.models.codec.EncodecFeatures",
    "vocoder_train.models.hf_codec.TransformersCodecFeatures": (
        "vocoder_train.models.hf_codec.TransformersCodecFeatures"
    ),
}


def _target_class(target: str):
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception:  # noqa: BLE001 - reported where the config is checked or built
        return None


def from_vocos_config(vocos_cfg: dict) -> dict:
    """vocos ``config.yaml`` dict -> Hydra generator config dict."""
    out: dict = {"_target_": f"{VocosGenerator.__module__}.{VocosGenerator.__name__}"}
    for part in ("feature_extractor", "backbone", "head"):
        try:
            node = vocos_cfg[part]
            out[part] = {"_target_": node["class_path"], **node.get("init_args", {})}
        except (KeyError, TypeError) as e:
            raise ValueError(f"vocos config has no valid '{part}' entry (class_path + init_args)") from e
    fe = out["feature_extractor"]
    if fe["_target_"] in STORED_FRONT_ENDS:
        fe["_target_"] = STORED_FRONT_ENDS[fe["_target_"]]
        fe.pop("path", None)  # stored weights come with the state dict, not from the training machine's file
    if vocos_cfg.get("mel_passes"):
        out["mel_passes"] = int(vocos_cfg["mel_passes"])
    return out


def build_generator(generator_cfg: DictConfig | dict) -> VocosGenerator:
    """Instantiates the generator from a Hydra config node."""
    from hydra.utils import instantiate

    from vocoder_train.config.runtime import setup

    setup()  # vocos' IMDCT heads need the SciPy name it restores
    gen = instantiate(generator_cfg, _convert_="all")
    if not isinstance(gen, VocosGenerator):
        raise TypeError(f"model.generator._target_ must build a VocosGenerator, got {type(gen).__name__}")
    return gen

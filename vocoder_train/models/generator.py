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
        if fe_hop and head_hop and fe_hop != head_hop:
            p.append(
                f"{key}.head hop {head_hop} != feature_extractor.hop_length={fe_hop}: "
                "the head must advance one frame per feature frame"
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

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) -> features (B, C, L), in fp32."""
        with torch.autocast(device_type=audio.device.type, enabled=False):
            return self.feature_extractor(audio.float())

    def synthesize(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, C, L) -> audio (B, L * hop). Backbone under the ambient autocast, head in fp32."""
        hidden = self.backbone(features)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            audio = self.head(hidden.float())
            if self.mel_passes and not self.training:
                audio = mel_projection(
                    audio, features.float(), self.feature_extractor.mel_spec, self.mel_passes
                )
            return audio

    def synthesize_with_spectrum(self, features: torch.Tensor) -> Synthesis:
        """features (B, C, L) -> :class:`Synthesis`: audio (B, L * hop) and the head's complex spectrum
        (B, n_fft // 2 + 1, L), for losses on the spectrum. Needs a head with a ``spectrum`` method
        (e.g. ConsistencyISTFTHead); the eval-mode mel projection is not applied."""
        if not hasattr(self.head, "spectrum"):
            raise ValueError(
                f"a loss needs the head's spectrum, but {type(self.head).__name__} has none: use "
                "model.generator.head._target_=vocoder_train.models.heads.ConsistencyISTFTHead"
            )
        hidden = self.backbone(features)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            spectrum = self.head.spectrum(hidden.float())
            return Synthesis(self.head.istft(spectrum), spectrum)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # noqa: D401 - training forward
        """Copy synthesis with autograd: audio (B, T) -> audio (B, T), trimmed/padded to T."""
        return match_length(self.synthesize(self.features(audio)), audio.shape[-1])


def frame_layout(node: DictConfig | dict) -> tuple[int | None, int | None]:
    """(hop length in samples, channels) of the features that the front end configured by ``node``
    gives. A front-end class declares them with a ``frame_layout(node)`` classmethod; a mel front end
    without one (vocos' own) has ``hop_length`` and ``n_mels``."""
    from hydra.utils import get_object

    try:
        declared = getattr(get_object(str(node.get("_target_"))), "frame_layout", None)
    except Exception:  # noqa: BLE001 - a _target_ that does not import is reported by the config check
        declared = None
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


def from_vocos_config(vocos_cfg: dict) -> dict:
    """vocos ``config.yaml`` dict -> Hydra generator config dict."""
    out: dict = {"_target_": f"{VocosGenerator.__module__}.{VocosGenerator.__name__}"}
    for part in ("feature_extractor", "backbone", "head"):
        try:
            node = vocos_cfg[part]
            out[part] = {"_target_": node["class_path"], **node.get("init_args", {})}
        except (KeyError, TypeError) as e:
            raise ValueError(f"vocos config has no valid '{part}' entry (class_path + init_args)") from e
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

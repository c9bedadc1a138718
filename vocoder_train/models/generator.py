"""The generator: a ``vocos.Vocos`` built from vocos' own classes.

:class:`VocosGenerator` *is* a ``vocos.Vocos`` (same submodules, same state-dict keys),
so its ``state_dict()`` loads into ``vocos.Vocos`` unchanged. It only adds training-mode
forwards (``Vocos.forward``/``decode`` run under ``torch.inference_mode``) and keeps the
feature extractor and the Fourier head in fp32 under autocast: the ISTFT has no bf16
kernel on CPU and loses accuracy in half precision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import DictConfig, OmegaConf
from vocos import Vocos
from vocos.feature_extractors import MelSpectrogramFeatures

from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.models.heads import mel_projection


class VocosGenerator(Vocos):
    """Mel (or other features) -> waveform generator.

    Args:
        feature_extractor (vocos.feature_extractors.FeatureExtractor): audio (B, T) -> features (B, C, L).
        backbone (vocos.models.Backbone): features (B, C, L) -> hidden (B, L, H).
        head (vocos.heads.FourierHead): hidden (B, L, H) -> audio (B, T').
    """

    def __init__(self, feature_extractor, backbone, head, mel_passes: int = 0):
        """``mel_passes``: in eval mode, make the output's mel agree with the input mel with that
        many correction passes (:func:`vocoder_train.models.heads.mel_projection`); needs a
        ``vocos.feature_extractors.MelSpectrogramFeatures`` with centred frames. 0: off (vocos' output)."""
        super().__init__(feature_extractor, backbone, head)
        self.mel_passes = int(mel_passes)
        if self.mel_passes < 0:
            raise ValueError(f"model.generator.mel_passes={mel_passes}: must be >= 0 (0 turns it off)")
        if self.mel_passes and not (
            isinstance(feature_extractor, MelSpectrogramFeatures) and feature_extractor.padding == "center"
        ):
            raise ValueError(
                f"model.generator.mel_passes={mel_passes} needs vocos.feature_extractors.MelSpectrogramFeatures "
                f"with padding: center (got {type(feature_extractor).__name__}"
                f"{', padding ' + feature_extractor.padding if hasattr(feature_extractor, 'padding') else ''}); "
                "set mel_passes: 0"
            )

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) -> features (B, C, L), in fp32."""
        with torch.autocast(device_type=audio.device.type, enabled=False):
            return self.feature_extractor(audio.float())

    def synthesize(self, features: torch.Tensor, return_spectrum: bool = False):
        """features (B, C, L) -> audio (B, L * hop). Backbone under the ambient autocast, head in fp32.

        ``return_spectrum=True`` (heads with a ``spectrum`` method, e.g. ConsistencyISTFTHead)
        returns ``(audio, spectrum)`` with the head's complex spectrum (B, n_fft // 2 + 1, L) too."""
        hidden = self.backbone(features)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            if not return_spectrum:
                audio = self.head(hidden.float())
                if self.mel_passes and not self.training:
                    audio = mel_projection(audio, features.float(), self.feature_extractor.mel_spec, self.mel_passes)
                return audio
            if not hasattr(self.head, "spectrum"):
                raise ValueError(
                    f"a loss needs the head's spectrum, but {type(self.head).__name__} has none: use "
                    "model.generator.head._target_=vocoder_train.models.heads.ConsistencyISTFTHead"
                )
            spec = self.head.spectrum(hidden.float())
            return self.head.istft(spec), spec

    def forward(self, audio: torch.Tensor, return_spectrum: bool = False, **kwargs: Any):  # noqa: D401 - training forward
        """Copy synthesis with autograd: audio (B, T) -> audio (B, T), trimmed/padded to T
        (``(audio, spectrum)`` with ``return_spectrum``, see :meth:`synthesize`)."""
        out = self.synthesize(self.features(audio), return_spectrum)
        if return_spectrum:
            return match_length(out[0], audio.shape[-1]), out[1]
        return match_length(out, audio.shape[-1])


def match_length(audio: torch.Tensor, length: int) -> torch.Tensor:
    """Trims or zero-pads the last dimension to ``length``."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    return torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))


# -- vocos config.yaml <-> Hydra config -------------------------------------------------------


def to_vocos_config(generator_cfg: DictConfig | dict, sample_rate: int | None = None) -> dict:
    """Hydra generator config (``_target_`` style) -> vocos ``config.yaml`` dict (``class_path``/``init_args``)."""
    cfg = OmegaConf.to_container(generator_cfg, resolve=True) if isinstance(generator_cfg, DictConfig) else dict(
        generator_cfg
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


def infer_sample_rate(generator_cfg: dict) -> int | None:
    fe = generator_cfg.get("feature_extractor", {})
    return fe.get("sample_rate") or (fe.get("init_args") or {}).get("sample_rate")


def load_vocos_folder(folder: str | os.PathLike, map_location: str = "cpu") -> tuple[VocosGenerator, int]:
    """Loads a vocos folder (``config.yaml`` + ``pytorch_model.bin``, e.g. ``charactr/vocos-mel-24khz``).

    Returns (generator, sample_rate). The weights are loaded with ``weights_only=True``.
    """
    folder = Path(folder)
    cfg_path, weights = folder / "config.yaml", folder / "pytorch_model.bin"
    for p in (cfg_path, weights):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing; a vocos folder holds config.yaml and pytorch_model.bin")
    with open(cfg_path, encoding="utf-8") as f:
        vocos_cfg = yaml.safe_load(f)
    gen_cfg = from_vocos_config(vocos_cfg)
    gen = build_generator(gen_cfg)
    state = load_checkpoint(weights, map_location=map_location)
    missing, unexpected = gen.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights}: does not match {cfg_path} (missing {missing[:5]}, unexpected {unexpected[:5]})")
    sr = vocos_cfg.get("sample_rate") or infer_sample_rate(gen_cfg) or 24000
    return gen, int(sr)


def generator_config_from_checkpoint(ckpt: dict, path: str | os.PathLike) -> dict:
    try:
        return ckpt["vocoder_train"]["config"]["model"]["generator"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a vocoder_train checkpoint (no vocoder_train.config entry)") from e


def load_generator(
    path: str | os.PathLike, map_location: str = "cpu", ema: bool = False
) -> tuple[VocosGenerator, int]:
    """Loads a generator from a training checkpoint (``.ckpt``) or a vocos folder.

    Args:
        path: ``last.ckpt``/``best-*.ckpt`` of a run, or a folder with config.yaml + pytorch_model.bin.
        map_location: device for the weights.
        ema: use the EMA weights stored in the checkpoint (error if the run had no EMA).

    Returns:
        (generator in eval mode, sample_rate)
    """
    path = Path(path)
    if path.is_dir():
        gen, sr = load_vocos_folder(path, map_location)
        return gen.eval(), sr
    ckpt = load_checkpoint(path, map_location=map_location)
    gen_cfg = generator_config_from_checkpoint(ckpt, path)
    gen = build_generator(gen_cfg)
    if ema:
        state = (ckpt.get("vocoder_train") or {}).get("ema_generator")
        if state is None:
            raise ValueError(f"{path}: has no EMA weights (train with callbacks.ema enabled, or drop --ema)")
    else:
        prefix = "generator."
        state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    gen.load_state_dict(state)
    sr = ckpt["vocoder_train"]["config"]["audio"]["sample_rate"]
    return gen.eval(), int(sr)

"""Config validation before any work: one line per problem, naming the key and the value."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """The run config is inconsistent. The message lists every problem found."""


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None)


def audio_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    sr, n_fft, hop = _get(cfg, "audio.sample_rate"), _get(cfg, "audio.n_fft"), _get(cfg, "audio.hop_length")
    seg, n_mels = _get(cfg, "audio.segment_length"), _get(cfg, "audio.n_mels")
    for key, val in (("audio.sample_rate", sr), ("audio.n_fft", n_fft), ("audio.hop_length", hop),
                     ("audio.segment_length", seg), ("audio.n_mels", n_mels)):
        if not isinstance(val, int) or val <= 0:
            p.append(f"{key}={val!r}: must be a positive integer")
    if p:
        return p
    if hop > n_fft:
        p.append(f"audio.hop_length={hop} > audio.n_fft={n_fft}: frames would skip samples")
    if seg % hop:
        p.append(f"audio.segment_length={seg} is not a multiple of audio.hop_length={hop}; use {seg // hop * hop or hop}")
    if n_mels > n_fft // 2 + 1:
        p.append(f"audio.n_mels={n_mels} > n_fft // 2 + 1 = {n_fft // 2 + 1}: empty mel filters; lower n_mels")
    val_seg = _get(cfg, "data.val_segment_length")
    if isinstance(val_seg, int) and val_seg % hop:
        p.append(f"data.val_segment_length={val_seg} is not a multiple of audio.hop_length={hop}")
    return p


def generator_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    fe, bb, head = (_get(cfg, f"model.generator.{k}") for k in ("feature_extractor", "backbone", "head"))
    if fe is None or bb is None or head is None:
        return ["model.generator: needs feature_extractor, backbone and head"]
    fe_hop, head_hop = fe.get("hop_length"), head.get("hop_length", head.get("mdct_frame_len", 0) // 2 or None)
    if fe_hop and head_hop and fe_hop != head_hop:
        p.append(
            f"model.generator.head hop {head_hop} != feature_extractor.hop_length={fe_hop}: "
            "the head must advance one frame per feature frame"
        )
    if fe.get("n_mels") and bb.get("input_channels") and fe.n_mels != bb.input_channels:
        p.append(f"model.generator.backbone.input_channels={bb.input_channels} != feature_extractor.n_mels={fe.n_mels}")
    if head.get("dim") and bb.get("dim") and head.dim != bb.dim:
        p.append(f"model.generator.head.dim={head.dim} != backbone.dim={bb.dim}")
    return p


def loss_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    lambdas = _get(cfg, "model.loss.lambdas") or {}
    for name in _get(cfg, "model.discriminator") or {}:
        for key in (f"d_{name}", f"g_adv_{name}", f"g_fm_{name}"):
            if key not in lambdas:
                p.append(f"model.loss.lambdas.{key} missing: every discriminator '{name}' needs d_, g_adv_ and g_fm_ weights")
    if "g_mel" not in lambdas:
        p.append("model.loss.lambdas.g_mel missing")
    return p


def data_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    for key in ("data.train", "data.val"):
        val = _get(cfg, key)
        if val in (None, "???", ""):
            p.append(f"{key} is not set: point it at a manifest from vocoder-prepare, a filelist or a folder")
        elif not Path(str(val)).exists():
            p.append(f"{key}={val}: no such file or folder")
    for key in ("data.batch_size", "data.val_batch_size"):
        val = _get(cfg, key)
        if not isinstance(val, int) or val <= 0:
            p.append(f"{key}={val!r}: must be a positive integer (per device)")
    return p


def validation_problems(cfg: DictConfig) -> list[str]:
    from vocoder_train.metrics.registry import METRICS, metric_mode

    p: list[str] = []
    names = list(_get(cfg, "validation.metrics") or [])
    p += [f"validation.metrics: unknown metric {n!r}; known: {', '.join(METRICS)}" for n in names if n not in METRICS]
    monitor, mode = _get(cfg, "callbacks.model_checkpoint.monitor"), _get(cfg, "callbacks.model_checkpoint.mode")
    if monitor:
        key = monitor.removeprefix("val/")
        if key != "mel_l1" and key not in names:
            p.append(f"callbacks.model_checkpoint.monitor={monitor}: not computed; add {key} to validation.metrics")
        elif key in METRICS and mode and mode != metric_mode(key):
            p.append(f"callbacks.model_checkpoint.mode={mode}: {monitor} is better when {'higher' if metric_mode(key) == 'max' else 'lower'}; use mode={metric_mode(key)}")
        from vocoder_train.lit.module import SLOW_METRICS

        if key in SLOW_METRICS and (_get(cfg, "validation.slow_every") or 1) > 1:
            p.append(f"callbacks.model_checkpoint.monitor={monitor} is computed only every validation.slow_every validations; set validation.slow_every=1")
    return p


def check_config(cfg: DictConfig) -> None:
    """Raises :class:`ConfigError` listing every problem; returns quietly when none."""
    problems = (
        audio_problems(cfg) + generator_problems(cfg) + loss_problems(cfg) + data_problems(cfg)
        + validation_problems(cfg)
    )
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))

"""``vocoder-frontend-check``: does a TTS model's mel match our vocoder's front-end, and if not, how not?

    vocoder-frontend-check --audio a.wav --mel a.npy --config runs/x/.hydra/config.yaml
    vocoder-frontend-check --audio a.wav --mel a.npy --model pretrained/vocos-mel-24khz

The search over front-end settings is :func:`vocoder_train.dsp.frontend.compare_frontends`; this
module reads our front-end from a run's config or a model, parses arguments and prints the report.
Exit codes: 0 the mel matches ours, 1 settings differ, 2 an input could not be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from vocoder_train.dsp.frontend import compare_frontends
from vocoder_train.dsp.mel_settings import settings_from_config, vocos_settings


def ours_from_args(config: str | None, model: str | None) -> dict:
    """Our feature-extractor config from a run's ``.hydra/config.yaml`` or any model
    :mod:`vocoder_train.models.store` loads (checkpoint, vocos folder, export)."""
    from omegaconf import OmegaConf

    if config:
        cfg = OmegaConf.load(config)
        node = OmegaConf.select(cfg, "model.generator.feature_extractor")
        if node is None:
            raise ValueError(
                f"{config}: no model.generator.feature_extractor (give a run's .hydra/config.yaml)"
            )
        return OmegaConf.to_container(node, resolve=True)
    if model:
        from vocoder_train.models.store import read_config

        return read_config(model)["feature_extractor"]
    return asdict(vocos_settings())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vocoder-frontend-check",
        description="Compare a TTS model's mel of an utterance with our vocoder's mel of the same audio and "
        "say which front-end settings differ (mel scale, filter norm, f_min/f_max, log base and floor, "
        "magnitude/power, padding, normalization).",
        epilog="example: vocoder-frontend-check --audio a.wav --mel a.npy --config "
        "runs/x/.hydra/config.yaml\n"
        "The mel must be computed from the audio (the TTS recipe's ground-truth mel), not predicted.\n\n"
        "exit status: 0 when the mel matches ours, 1 when a setting differs or no candidate fits, 2 on bad "
        "input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--audio", required=True, help="the utterance (any format FFmpeg decodes)")
    p.add_argument("--mel", required=True, help=".npy of shape (n_mels, frames) or (1, n_mels, frames)")
    ours = p.add_mutually_exclusive_group()
    ours.add_argument("--config", help="our run's .hydra/config.yaml")
    ours.add_argument(
        "--model", help="our model: .ckpt, vocos folder (config.yaml + pytorch_model.bin) or export"
    )
    p.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        help="rate the mel was computed at; the audio is resampled to it (default: ours)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    from vocoder_train.io.audio import AudioReadError, load_audio

    try:
        ours = settings_from_config(ours_from_args(args.config, args.model))
        sr = args.sample_rate or ours.sample_rate
        audio, _ = load_audio(args.audio, sr)
        mel = np.load(args.mel, allow_pickle=False)
        report = compare_frontends(mel, audio[0], sr, ours)
    except (
        AudioReadError,
        OSError,
        ValueError,
        KeyError,
        RuntimeError,
    ) as e:  # RuntimeError: CheckpointError
        print(f"vocoder-frontend-check: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        import json

        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print("\n".join(report.lines()))
    return 0 if report.matches else 1


if __name__ == "__main__":
    sys.exit(main())

"""Writes a vocos folder (config.yaml + pytorch_model.bin) the way charactr/vocos-mel-24khz is laid
out, for the --tiny smoke run of this recipe: the tiny generator at 24 kHz, built and saved by
``vocos.Vocos`` itself (random weights). The real recipe uses the downloaded folder instead.

    python recipes/finetune_custom/make_tiny_pretrained.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from vocos import Vocos

from vocoder_train.config import CONFIG_DIR
from vocoder_train.models.generator import to_vocos_config


def main(out: str) -> None:
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=finetune", "model/generator=tiny"])
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(to_vocos_config(cfg.model.generator)))
    torch.manual_seed(0)
    model = Vocos.from_hparams(str(folder / "config.yaml"))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    print(f"wrote {folder}/config.yaml and pytorch_model.bin ({sum(p.numel() for p in model.parameters())} parameters)")


if __name__ == "__main__":
    main(sys.argv[1])

"""``vocoder-train``: the Hydra wrapper around :func:`vocoder_train.training.run.train`.

    vocoder-train experiment=demo
    vocoder-train experiment=vocos_mel_24khz data.train=... data.val=... trainer=gpu
    vocoder-train --help          # config groups and options
    vocoder-train --cfg job       # print the composed config
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from vocoder_train.config import CONFIG_DIR

log = logging.getLogger("vocoder_train")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> None:
    from vocoder_train.training.run import train

    metrics = train(cfg)
    for k in sorted(metrics):
        if k.startswith("val/"):
            log.info("%s = %.4f", k, metrics[k])


def main() -> None:
    """Console script ``vocoder-train``."""
    from vocoder_train.config.runtime import setup

    setup()  # before Hydra composes: the configs use the resolvers
    _main()


if __name__ == "__main__":
    main()

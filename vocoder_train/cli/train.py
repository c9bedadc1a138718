"""``vocoder-train``: the Hydra wrapper around :func:`vocoder_train.training.run.train`.

vocoder-train experiment=demo
vocoder-train experiment=vocos_mel_24khz data.train=... data.val=... trainer=gpu
vocoder-train --help          # config groups and options
vocoder-train --cfg job       # print the composed config
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import ConfigError

log = logging.getLogger("vocoder_train")


def _fail(error: ConfigError) -> None:
    for line in error.problems:
        print(f"vocoder-train: {line}", file=sys.stderr)
    sys.exit(2)


def _remove_if_unused(folder: Path) -> None:
    """A run folder that holds only what Hydra wrote at start-up (.hydra/, the log) is removed."""
    if folder.is_dir() and all(p.name == ".hydra" or p.suffix == ".log" for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # the runs folder too, when that left it empty
            folder.parent.rmdir()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> None:
    from vocoder_train.training.run import train

    try:
        metrics = train(cfg)
    except ConfigError as e:  # multirun jobs and --cfg variants skip the check before Hydra
        _remove_if_unused(Path(cfg.paths.output_dir))
        _fail(e)
    for k in sorted(metrics):
        if k.startswith("val/"):
            log.info("%s = %.4f", k, metrics[k])


def _plain_run(args: list[str]) -> bool:
    """Only overrides (no Hydra flags such as -m, --cfg, --help; no sweeps such as ``a=1,2``): these are
    checked before Hydra starts."""
    if any(a.startswith("-") for a in args):
        return False
    values = [a.partition("=")[2] for a in args]
    return not any("," in v and not v.startswith("[") for v in values)


def main() -> None:
    """Console script ``vocoder-train``."""
    from vocoder_train.config.compose import compose_checked
    from vocoder_train.config.runtime import setup
    from vocoder_train.training.run_config import check_run_config

    setup()  # before Hydra composes: the configs use the resolvers
    if _plain_run(sys.argv[1:]):
        try:  # every mistake as one line, before Hydra makes the run folder
            compose_checked(sys.argv[1:], check_run_config)
        except ConfigError as e:
            _fail(e)
    _main()


if __name__ == "__main__":
    main()

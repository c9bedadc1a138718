"""Lightning DDP runs of the tiny experiment in a subprocess, each rank dumping its final weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

_SCRIPT = """
import sys, torch, pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from vocoder_train.config import CONFIG_DIR
from vocoder_train.training.run import train

class Dump(pl.Callback):
    def on_train_end(self, trainer, module):
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        torch.save({"state": state, "world": trainer.world_size, "step": trainer.global_step,
                    "backend": torch.distributed.get_backend()},
                    f"{sys.argv[1]}/rank{trainer.global_rank}.pt")

with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=sys.argv[2:])
train(cfg, callbacks=[Dump()])
"""


def run_ddp(tmp_path: Path, overrides: list[str], ranks: int = 2, timeout: int = 600) -> list[dict]:
    """Trains with ``overrides`` (which choose ``trainer=ddp`` and its devices) in a subprocess;
    returns each rank's ``{"state", "world", "step", "backend"}``."""
    script = tmp_path / "run_ddp.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path), *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return [torch.load(tmp_path / f"rank{i}.pt") for i in range(ranks)]


def assert_ranks_agree(ranks: list[dict], steps: int) -> None:
    """Every rank ran ``steps`` optimizer steps in a world of all of them and holds the same weights."""
    assert [d["world"] for d in ranks] == [len(ranks)] * len(ranks)
    assert [d["step"] for d in ranks] == [steps] * len(ranks)
    a = ranks[0]["state"]
    for other in ranks[1:]:
        assert a.keys() == other["state"].keys()
        for k in a:
            torch.testing.assert_close(a[k], other["state"][k], rtol=0, atol=0, msg=k)


_VALIDATE = """
import json, sys, torch, pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.runtime import setup
from vocoder_train.training.datamodule import VocoderDataModule
from vocoder_train.training.run import build_module

setup()
with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=sys.argv[2:])
pl.seed_everything(0)
module = build_module(cfg)
trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False,
limit_val_batches=None)
trainer.validate(module, datamodule=VocoderDataModule(instantiate(cfg.data, _convert_="all")), verbose=False)
with open(f"{sys.argv[1]}/metrics{trainer.global_rank}.json", "w") as f:
    json.dump({"world": trainer.world_size, **{k: float(v) for k, v in trainer.callback_metrics.items()}}, f)
"""


def validate(tmp_path: Path, overrides: list[str], ranks: int) -> list[dict]:
    """One validation pass of a freshly seeded model with ``overrides`` (add ``trainer=ddp`` and its
    devices for several ranks) in a subprocess; returns each rank's ``{"world", "val/...": value}``."""
    script = tmp_path / "validate.py"
    script.write_text(_VALIDATE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path), *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    return [json.loads((tmp_path / f"metrics{i}.json").read_text()) for i in range(ranks)]

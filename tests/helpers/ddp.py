"""Lightning DDP runs of the tiny experiment in a subprocess, each rank dumping its final weights (and
one-process runs the same way, to compare with)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

_SCRIPT = """
import sys
from hydra import compose, initialize_config_dir
from tests.helpers.ddp import RankDump
from vocoder_train.config import CONFIG_DIR
from vocoder_train.training.run import train

with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=sys.argv[2:])
train(cfg, callbacks=[RankDump(sys.argv[1])])
"""
REPO = Path(__file__).parents[2]


class RankDump(pl.Callback):
    """Writes ``<folder>/rank<global rank>.pt`` when training ends: ``{"state", "world", "step", "backend",
    "grad_norms", "items", "node", "nodes"}``: the module's weights, the world size, the global step, the
    process group's backend (None without one), this rank's gradient norms ``[G, D]`` of each iteration
    (after DDP's averaging), the training items (``batch["index"]``) it read, its node rank and the
    trainer's node count. Also a ``callbacks.<name>`` entry of a config: ``_target_`` and ``folder``."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.norms: list[list[float]] = []
        self.items: list[int] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.norms.append([float(outputs.get(k, float("nan"))) for k in ("grad_norm_g", "grad_norm_d")])
        self.items += [int(i) for i in batch.get("index", ())]

    def on_train_end(self, trainer, module):
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else None
        dump = {
            "state": state,
            "world": trainer.world_size,
            "step": trainer.global_step,
            "backend": backend,
            "grad_norms": self.norms,
            "items": self.items,
            "node": trainer.node_rank,
            "nodes": trainer.num_nodes,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(dump, self.folder / f"rank{trainer.global_rank}.pt")


def load_dumps(folder: str | Path, ranks: int) -> list[dict]:
    """The :class:`RankDump` files of ranks ``0 .. ranks - 1`` in ``folder``."""
    return [torch.load(Path(folder) / f"rank{i}.pt") for i in range(ranks)]


def subprocess_env() -> dict[str, str]:
    """The environment of a training subprocess: one OpenMP thread, and ``tests`` importable."""
    path = os.pathsep.join(x for x in (str(REPO), os.environ.get("PYTHONPATH")) if x)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


# Two gloo processes on the CPU, in float32.
CPU_DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true"]


def tiny_overrides(train: str | Path, val: str | Path, runs_dir: str | Path) -> list[str]:
    """The tiny experiment on the ``train`` and ``val`` filelists, its run folder under ``runs_dir``."""
    return ["experiment=tiny", f"data.train={train}", f"data.val={val}", f"paths.runs_dir={runs_dir}"]


def run_ddp(tmp_path: Path, overrides: list[str], ranks: int = 2, timeout: int = 600) -> list[dict]:
    """Trains with ``overrides`` (which choose ``trainer=ddp`` and its devices, or one process with
    ``ranks=1``) in a subprocess; returns each rank's :class:`RankDump` file."""
    return finish_ddp(start_ddp(tmp_path, overrides), ranks, timeout)


def start_ddp(tmp_path: Path, overrides: list[str]) -> subprocess.Popen:
    """:func:`run_ddp` without waiting: several runs can share the cores; :func:`finish_ddp` collects one."""
    script = tmp_path / "run_ddp.py"
    script.write_text(_SCRIPT)
    env = subprocess_env()
    with open(tmp_path / "run_ddp.log", "w") as log:  # a file, not a pipe: a full pipe would block the run
        return subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), *overrides],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )


def finish_ddp(proc: subprocess.Popen, ranks: int = 2, timeout: int = 600) -> list[dict]:
    """Waits for a :func:`start_ddp` run; returns what :func:`run_ddp` does."""
    folder = Path(proc.args[2])
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (folder / "run_ddp.log").read_text()[-3000:]
    return load_dumps(folder, ranks)


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


def max_differences(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{key: max |a - b|}`` over the floating-point tensors of two state dicts with the same keys."""
    assert a.keys() == b.keys()
    return {k: float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point() and a[k].numel()}

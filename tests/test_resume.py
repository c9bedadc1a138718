"""SIGKILL a real training process, re-run the same command: it continues exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

_SCRIPT = """
import json, os, sys, time, torch, pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from vocoder_train.config import CONFIG_DIR
from vocoder_train.training.run import train

class Record(pl.Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        row = {"step": trainer.global_step, "iteration": module.iteration,
               "lr_g": module.optimizers()[0].param_groups[0]["lr"],
               **{k: float(v) for k, v in outputs.items()}}
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps(row) + "\\n")
        time.sleep(float(os.environ.get("STEP_SLEEP", "0")))

    def on_train_end(self, trainer, module):
        torch.save(module.state_dict(), sys.argv[1] + ".final.pt")

torch.set_num_threads(1)
with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=sys.argv[2:])
train(cfg, callbacks=[Record()])
"""


def _rows(path: Path) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.mark.slow
def test_sigkill_then_rerun_continues_exactly(tiny_corpus, tmp_path):
    files = Path(tiny_corpus["train"]).read_text().split()
    train_list = tmp_path / "train12.txt"
    train_list.write_text("\n".join(files * 4) + "\n")  # 12 items: 6 batches an epoch, so resume is mid-epoch
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)

    def command(log: Path, runs: Path) -> list[str]:
        return [sys.executable, str(script), str(log),
                "experiment=tiny", f"data.train={train_list}", f"data.val={tiny_corpus['val']}",
                f"paths.runs_dir={runs}", "trainer.max_steps=17", "trainer.val_check_interval=3",
                "model.optim.pretrain_mel_steps=3", "model.optim.warmup_steps=2", "callbacks=ema", "onednn=false"]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref_log = tmp_path / "reference.jsonl"
    subprocess.run(command(ref_log, tmp_path / "ref"), check=True, env=env, capture_output=True, timeout=600)

    log = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(command(log, tmp_path / "run"), env={**env, "STEP_SLEEP": "0.4"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill after the 2nd validation (a checkpoint at iteration 6)
        if log.exists() and max(_rows(log), default=0) >= 11:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(_rows(log))
    assert 11 <= killed_at < 17, "the process must die mid-run"
    subprocess.run(command(log, tmp_path / "run"), check=True, env=env, capture_output=True, timeout=600)

    ref, got = _rows(ref_log), _rows(log)
    assert max(got) == 17 and sorted(got) == sorted(ref)
    # With onednn=false (oneDNN's conv backward is not bitwise reproducible after a restore:
    # measured ~1e-6 relative drift in D gradients with it on) the continuation is bitwise exact.
    for step in ref:  # steps redone after the restart overwrote the killed run's rows
        assert got[step] == ref[step], step
    a = torch.load(str(ref_log) + ".final.pt")
    b = torch.load(str(log) + ".final.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(b[k], a[k]), k

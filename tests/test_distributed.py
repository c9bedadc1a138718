"""Lightning DDP with 2 CPU processes (gloo): ranks agree on every weight after GAN steps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

_SCRIPT = """
import sys, torch, pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from vocoder_train.config import CONFIG_DIR
from vocoder_train.training.run import train

class Dump(pl.Callback):
    def on_train_end(self, trainer, module):
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        torch.save({"state": state, "world": trainer.world_size, "step": trainer.global_step},
                   f"{sys.argv[1]}/rank{trainer.global_rank}.pt")

with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=sys.argv[2:])
train(cfg, callbacks=[Dump()])
"""


@pytest.mark.slow
def test_two_process_ddp_ranks_agree(tiny_corpus, tmp_path):
    script = tmp_path / "run_ddp.py"
    script.write_text(_SCRIPT)
    overrides = [
        "experiment=tiny", f"data.train={tiny_corpus['train']}", f"data.val={tiny_corpus['val']}",
        f"paths.runs_dir={tmp_path / 'runs'}", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.precision=32-true", "trainer.max_steps=5", "model.optim.pretrain_mel_steps=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(script), str(tmp_path), *overrides], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{i}.pt") for i in range(2)]
    assert [d["world"] for d in ranks] == [2, 2] and ranks[0]["step"] == ranks[1]["step"] == 5
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert (Path(tmp_path) / "runs" / "tiny" / "checkpoints" / "last.ckpt").is_file()

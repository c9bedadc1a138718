"""Lightning DDP with 2 CPU processes (gloo): ranks agree on every weight after GAN steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.ddp import assert_ranks_agree, run_ddp


@pytest.mark.slow
def test_two_process_ddp_ranks_agree(tiny_corpus, tmp_path):
    overrides = [
        "experiment=tiny", f"data.train={tiny_corpus['train']}", f"data.val={tiny_corpus['val']}",
        f"paths.runs_dir={tmp_path / 'runs'}", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.precision=32-true", "trainer.max_steps=5", "model.optim.pretrain_mel_steps=1",
    ]
    ranks = run_ddp(tmp_path, overrides)
    assert [d["backend"] for d in ranks] == ["gloo", "gloo"]
    assert_ranks_agree(ranks, steps=5)
    assert (Path(tmp_path) / "runs" / "tiny" / "checkpoints" / "last.ckpt").is_file()

"""A checkpoint and a vocos export written by an earlier version of the code still resume, export and load."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from vocos import Vocos

from tests.helpers.training import train_tiny
from vocoder_train.api import load_vocoder
from vocoder_train.cli.export import main as export
from vocoder_train.io.checkpoint import load_checkpoint

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "main-2026-12-06"


def test_the_stored_checkpoint_resumes(tmp_path):
    ckpt = tmp_path / "old.ckpt"
    shutil.copy(FIXTURE / "last.ckpt", ckpt)
    assert load_checkpoint(ckpt)["global_step"] == 5
    last = train_tiny(
        tmp_path,
        f"ckpt_path={ckpt}",
        "trainer.max_steps=7",
        "model.optim.pretrain_mel_steps=1",
        "callbacks=ema",
        "validation.metrics=[]",
    )
    assert load_checkpoint(last)["global_step"] == 7


def test_the_stored_checkpoint_exports_as_the_stored_export(tmp_path):
    assert export([str(FIXTURE / "last.ckpt"), "-o", str(tmp_path / "vocos"), "-f", "vocos"]) == 0
    new = torch.load(tmp_path / "vocos" / "pytorch_model.bin", weights_only=True)
    old = torch.load(FIXTURE / "vocos" / "pytorch_model.bin", weights_only=True)
    assert new.keys() == old.keys()
    for k in old:
        assert torch.equal(new[k], old[k]), k


def test_the_stored_export_loads_here_and_in_vocos():
    mel = torch.randn(1, 32, 20) * 0.5 - 4.0
    ours = load_vocoder(FIXTURE / "vocos").decode(mel)
    from_ckpt = load_vocoder(FIXTURE / "last.ckpt").decode(mel)
    upstream = Vocos.from_hparams(str(FIXTURE / "vocos" / "config.yaml"))
    upstream.load_state_dict(torch.load(FIXTURE / "vocos" / "pytorch_model.bin", weights_only=True))
    with torch.inference_mode():
        theirs = upstream.eval().decode(mel)
    torch.testing.assert_close(ours, from_ckpt, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)

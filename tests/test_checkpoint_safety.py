"""Checkpoints are untrusted input, and writes are atomic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from vocoder_train.io.checkpoint import CheckpointError, atomic_torch_save, load_checkpoint


class _Payload:
    """Unpickling this runs `touch <marker>` — what a hostile checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hook": _Payload(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="evil.ckpt: refused"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_malicious_checkpoint_refused_by_generator_loader(tmp_path):
    from vocoder_train.models.store import load_generator

    marker = tmp_path / "pwned2"
    evil = tmp_path / "last.ckpt"
    torch.save({"vocoder_train": _Payload(str(marker))}, evil)
    with pytest.raises(CheckpointError):
        load_generator(evil)
    assert not marker.exists()


def test_truncated_checkpoint_is_reported(tmp_path):
    p = tmp_path / "x.ckpt"
    torch.save({"w": torch.randn(1000)}, p)
    p.write_bytes(p.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        load_checkpoint(p)


_WRITER = """
import sys, torch
from vocoder_train.io.checkpoint import atomic_torch_save
path = sys.argv[1]
i = 0
print("ready", flush=True)
while True:
    i += 1
    atomic_torch_save({"i": i, "w": torch.full((4_000_000,), float(i))}, path)
"""


def test_kill_during_checkpoint_write_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"i": 0, "w": torch.zeros(4_000_000)}, path)
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)  # the 16 MB writes are under way now
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)
        assert torch.all(state["w"] == float(state["i"]))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.ckpt"]
    assert all(n.startswith(".last.ckpt.tmp") for n in leftovers)  # only the killed writer's temp file

"""Shared fixtures: generated audio in tmp_path and the composed tiny config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(min(2, os.cpu_count() or 1))

from tests.helpers.audio import write_corpus, write_tiny_corpus  # noqa: E402
from vocoder_train.config.runtime import setup  # noqa: E402

setup()  # what the console scripts do first: resolvers, numba threading layer, SciPy name


@pytest.fixture
def make_corpus(tmp_path: Path):
    """make_corpus(specs) -> list of paths; spec = (name, sample_rate, seconds, channels)."""

    def _make(specs, folder: str = "corpus") -> list[Path]:
        return write_corpus(tmp_path, specs, folder)

    return _make


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> dict:
    """Train (3 files at mixed rates) and val (2 files) filelists for the tiny experiment."""
    return write_tiny_corpus(tmp_path)


@pytest.fixture
def tiny_cfg(tiny_corpus):
    """compose_tiny(*overrides) -> the tiny experiment config, pointed at tmp_path."""
    from tests.helpers.training import compose_train

    def _compose(*overrides: str):
        base = [
            "experiment=tiny",
            f"data.train={tiny_corpus['train']}",
            f"data.val={tiny_corpus['val']}",
            f"paths.runs_dir={tiny_corpus['runs']}",
        ]
        return compose_train(base + list(overrides))

    return _compose


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """last.ckpt of the tiny experiment after 4 optimizer steps, with EMA weights (callbacks=ema).
    Trained once per test session; tests must not modify it."""
    from tests.helpers.training import train_tiny

    return train_tiny(tmp_path_factory.mktemp("tiny_run"), "callbacks=ema", "trainer.max_steps=4")

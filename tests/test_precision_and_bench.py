"""Mixed precision gives the results of fp32 to a few %; the benchmark harness runs.

``trainer.precision=bf16-mixed`` is the one speed option of the training step. No timings are
asserted here (see ``benchmarks/run.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from vocoder_train.training.run import build_module

ROOT = Path(__file__).resolve().parent.parent


class _Losses(pl.Callback):
    def __init__(self):
        self.steps: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append({k: float(v) for k, v in outputs.items() if v.numel() == 1})


def _fit(cfg, state: dict, tmp_path, precision: str = "32-true", iterations: int = 2):
    """`iterations` GAN iterations from `state` on fixed batches; returns (losses per step, module)."""
    module = build_module(cfg)
    module.load_state_dict(state)
    g = torch.Generator().manual_seed(0)
    batches = [
        {"audio": 0.1 * torch.randn(2, cfg.audio.segment_length, generator=g)} for _ in range(iterations)
    ]
    losses = _Losses()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=2 * iterations,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[losses],
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return losses.steps, module


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-8)


@pytest.fixture
def reference(tiny_cfg):
    torch.manual_seed(0)
    module = build_module(tiny_cfg())
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_bf16_mixed_trains_through_lightning_on_cpu_close_to_fp32(tiny_cfg, reference, tmp_path):
    fp32, _ = _fit(tiny_cfg(), reference, tmp_path / "fp32")
    bf16, module = _fit(tiny_cfg(), reference, tmp_path / "bf16", precision="bf16-mixed")
    assert all(torch.isfinite(torch.tensor(list(s.values()))).all() for s in bf16)
    first = bf16[0]
    for k in ("d_total", "g_total", "g_mel"):
        assert _rel(first[k], fp32[0][k]) <= 0.05, (k, first[k], fp32[0][k])
    # the parameters stay fp32 (autocast), and the losses are computed in fp32
    assert all(p.dtype == torch.float32 for p in module.parameters())
    with torch.autocast("cpu", torch.bfloat16):
        audio = 0.1 * torch.randn(2, 4096)
        terms = module.adversary.discriminator_losses(audio, module.generator(audio).detach())
        assert all(v.dtype == torch.float32 for v in terms.values())


@pytest.mark.slow
def test_benchmark_quick_runs(tmp_path):
    t0 = time.perf_counter()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--batch",
            "1",
            "--segment",
            "4096",
            "--reps",
            "1",
            "--no-rss",  # the peak-RSS subprocesses: test_peak_rss_probe_measures_a_fresh_process
            "--json",
            str(tmp_path / "out.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for title in (
        "## Training step",
        "## Speed options",
        "## Data loader",
        "## Inference",
        "## Streaming",
        "## Loss kernels",
        "upstream fp32",
        "upstream bf16",
        "engine=auto",
    ):
        assert title in res.stdout
    assert (tmp_path / "out.json").is_file()
    print(f"benchmarks.run --quick: {time.perf_counter() - t0:.0f} s")


@pytest.mark.slow
def test_peak_rss_probe_measures_a_fresh_process():
    """The training step benchmark's peak-RSS column: one variant trained in a fresh process."""
    from benchmarks.bench_step import rss_probe
    from benchmarks.harness import Options

    peak = rss_probe("ours fp32", Options.resolve(True, 1, 4096, 1, threads=1))
    assert peak is not None and 100 < peak < 20_000  # torch alone is a few hundred MB, activations on top

"""Speed options give the results of the defaults: fp32 options to 1e-5, bf16 to a few %.

Options: ``model.perf.cache_weight_norm`` (default on), ``model.perf.channels_last``, and
``trainer.precision=bf16-mixed``. No timings are asserted here (see ``benchmarks/run.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from vocoder_train.training.module import PERF_DEFAULTS, resolve_perf
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
    batches = [{"audio": 0.1 * torch.randn(2, cfg.audio.segment_length, generator=g)} for _ in range(iterations)]
    losses = _Losses()
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=2 * iterations, precision=precision, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, callbacks=[losses],
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return losses.steps, module


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-8)


@pytest.fixture
def reference(tiny_cfg):
    torch.manual_seed(0)
    module = build_module(tiny_cfg("model.perf.cache_weight_norm=false"))
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_perf_options_are_read_from_the_config_and_checked(tiny_cfg):
    assert resolve_perf(None) == PERF_DEFAULTS
    module = build_module(tiny_cfg("model.perf.channels_last=true"))
    assert module.perf["channels_last"] and module.perf["cache_weight_norm"]
    assert module.perf == resolve_perf({"channels_last": True})
    with pytest.raises(ValueError, match="unknown option"):
        resolve_perf({"chanels_last": True})


def test_weight_norm_cache_changes_nothing(tiny_cfg, reference, tmp_path):
    off, m_off = _fit(tiny_cfg("model.perf.cache_weight_norm=false"), reference, tmp_path / "off")
    on, m_on = _fit(tiny_cfg("model.perf.cache_weight_norm=true"), reference, tmp_path / "on")
    for a, b in zip(on, off):
        for k in b:
            assert _rel(a[k], b[k]) <= 1e-5, (k, a[k], b[k])
    for (k, v), w in zip(m_on.state_dict().items(), m_off.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=1e-5, atol=1e-6, msg=k)


def test_two_pass_d_step_gives_the_concatenated_values(tiny_cfg, reference, tmp_path):
    m = build_module(tiny_cfg())
    m.load_state_dict(reference)
    g = torch.Generator().manual_seed(2)
    real, fake = 0.1 * torch.randn(2, 4096, generator=g), 0.1 * torch.randn(2, 4096, generator=g)
    out = {}
    for concat in (True, False):
        m.adversary.zero_grad()
        terms = m.adversary.discriminator_losses(real, fake, concat=concat)
        sum(terms.values()).backward()
        out[concat] = ({k: float(v) for k, v in terms.items()}, [p.grad.clone() for p in m.adversary.parameters()])
    for k, v in out[True][0].items():
        assert _rel(out[False][0][k], v) <= 1e-5, k
    for a, b in zip(out[False][1], out[True][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert build_module(tiny_cfg("model.perf.concat_d_pass=true")).perf["concat_d_pass"] is True


def test_channels_last_gives_the_same_discriminator_losses_and_gradients(tiny_cfg, reference, tmp_path):
    ref = build_module(tiny_cfg())
    cl = build_module(tiny_cfg("model.perf.channels_last=true"))
    ref.load_state_dict(reference)
    cl.load_state_dict(reference)
    convs = [m for m in cl.adversary.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(
        m.parametrizations.weight.original1.is_contiguous(memory_format=torch.channels_last) for m in convs
    )
    g = torch.Generator().manual_seed(1)
    real, fake = 0.1 * torch.randn(2, 4096, generator=g), 0.1 * torch.randn(2, 4096, generator=g)
    grads = []
    for m in (ref, cl):
        terms = m.adversary.discriminator_losses(real, fake)
        sum(terms.values()).backward()
        grads.append((terms, [p.grad.clone() for p in m.adversary.parameters()]))
    (t_ref, g_ref), (t_cl, g_cl) = grads
    for k in t_ref:
        assert _rel(float(t_cl[k]), float(t_ref[k])) <= 1e-5
    for a, b in zip(g_cl, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # and it trains end to end; Adam's first steps amplify rounding (sign of tiny gradients)
    # so later losses are compared loosely
    on, _ = _fit(tiny_cfg("model.perf.channels_last=true"), reference, tmp_path / "cl")
    off, _ = _fit(tiny_cfg(), reference, tmp_path / "ref")
    for k in ("d_total",):
        assert _rel(on[0][k], off[0][k]) <= 1e-5
    for a, b in zip(on, off):
        for k in b:
            assert _rel(a[k], b[k]) <= 2e-2, (k, a[k], b[k])


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
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(tmp_path / "out.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for title in ("## Training step", "## Data loader", "## Inference", "## Loss kernels", "upstream fp32"):
        assert title in res.stdout
    assert (tmp_path / "out.json").is_file()
    print(f"benchmarks.run --quick: {time.perf_counter() - t0:.0f} s")

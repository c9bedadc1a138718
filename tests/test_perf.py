"""The training step's speed options (model.perf): Winograd convolutions (models/discriminators/winograd.py),
AdamW implementations, weight-norm caching and torch.compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.bench_winograd import period_gradients
from tests.helpers.training import fit
from vocoder_train.models.discriminators.vocos import MultiPeriodDiscriminator, PeriodDiscriminator
from vocoder_train.models.discriminators.winograd import conv_time, winograd_conv_time, winograd_transforms
from vocoder_train.training.perf import PLAIN, optimizer_kwargs
from vocoder_train.training.run import build_module


@pytest.mark.parametrize("m,r", [(2, 3), (4, 3), (2, 5), (4, 5), (3, 7)])
def test_transforms_compute_a_correlation(m, r):
    at, g, bt = winograd_transforms(m, r)
    rng = np.random.default_rng(0)
    d, k = rng.standard_normal(m + r - 1), rng.standard_normal(r)
    direct = [sum(k[j] * d[i + j] for j in range(r)) for i in range(m)]
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), direct, atol=1e-12)


@pytest.mark.parametrize("n,padding,r", [(19, 2, 5), (102, 2, 5), (7, 1, 3), (1, 2, 5), (6, 0, 3)])
def test_winograd_conv_equals_conv2d_with_gradients(n, padding, r):
    torch.manual_seed(0)
    x = torch.randn(2, 6, n, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 6, r, 1, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    ref = F.conv2d(x, w, b, padding=(padding, 0))
    out = winograd_conv_time(x, w, b, padding)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    grads = torch.autograd.grad((out * ref.detach()).sum(), (x, w, b))
    grads_ref = torch.autograd.grad((ref * ref.detach()).sum(), (x, w, b))
    for a, e in zip(grads, grads_ref):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-9)
    small = (
        x[:1, :2, : min(n, 6)].detach().clone().requires_grad_(True),
        w[:2, :2].detach().clone().requires_grad_(True),
        b[:2].detach().clone().requires_grad_(True),
    )
    assert torch.autograd.gradcheck(lambda *t: winograd_conv_time(*t, padding), small)


def test_period_discriminator_fp32_matches_float64_as_closely_as_the_direct_conv():
    torch.manual_seed(0)
    mpd = MultiPeriodDiscriminator(periods=(2, 5), channels=(8, 32, 64, 256, 256))
    x = torch.randn(2, 4096) * 0.3
    ref = MultiPeriodDiscriminator(periods=(2, 5), channels=(8, 32, 64, 256, 256)).double()
    ref.load_state_dict(mpd.state_dict())
    with torch.no_grad():
        want = torch.cat([t.flatten() for fm in ref(x.double())[1] for t in fm])
    errors, outputs = {}, {}
    for on in (False, True):
        for d in mpd.modules():
            if isinstance(d, PeriodDiscriminator):
                d.winograd = on
        with torch.no_grad():
            outputs[on] = torch.cat([t.flatten() for fm in mpd(x)[1] for t in fm]).double()
        errors[on] = float((outputs[on] - want).norm() / want.norm())
    assert not torch.equal(outputs[True], outputs[False])  # the Winograd path ran
    assert errors[True] < 1e-6 and errors[True] < 5 * errors[False] + 1e-7, errors


def test_winograd_steps_aside_under_autocast_and_for_narrow_or_unfit_convs():
    conv = torch.nn.Conv2d(256, 8, (5, 1), padding=(2, 0))
    x = torch.randn(1, 256, 30, 2)
    assert not torch.equal(conv_time(conv, x, winograd=True), conv(x))  # the Winograd path
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(conv_time(conv, x, winograd=True), conv(x))
    narrow = torch.nn.Conv2d(4, 4, (5, 1), padding=(2, 0))
    assert torch.equal(conv_time(narrow, x[:, :4], winograd=True), narrow(x[:, :4]))
    strided = torch.nn.Conv2d(256, 8, (5, 1), (3, 1), padding=(2, 0))
    assert torch.equal(conv_time(strided, x, winograd=True), strided(x))


def test_model_perf_reaches_each_period_discriminator_through_its_constructor(tiny_cfg):
    module = build_module(
        tiny_cfg("model.perf.mpd_layout=folded", "model.perf.winograd=true", "model.perf.winograd_bf16=false")
    )
    periods = [m for m in module.adversary.modules() if isinstance(m, PeriodDiscriminator)]
    assert len(periods) == 2  # the tiny MPD's periods 2 and 3
    assert all((p.layout, p.winograd, p.winograd_bf16) == ("folded", True, False) for p in periods)
    with pytest.raises(ValueError, match="layout='diagonal'"):
        MultiPeriodDiscriminator(periods=(2,), channels=(4, 4), layout="diagonal")


def test_optimizer_implementations_map_to_adamw_arguments():
    assert optimizer_kwargs({"optimizer": "fused"}) == {"fused": True}
    assert optimizer_kwargs({"optimizer": "foreach"}) == {"foreach": True}
    assert optimizer_kwargs({"optimizer": "for_loop"}) == {"foreach": False}
    assert optimizer_kwargs({"optimizer": "default"}) == {}


def test_speed_options_keep_the_first_iteration_losses(tiny_cfg, tmp_path):
    """Each option alone, from the same weights and batch: the losses of the first GAN iteration
    equal the plain step's within float rounding, and the step trains."""

    def overrides(**option):  # an MPD wide enough for its last conv to run as Winograd
        return [
            "model.discriminator.mpd.channels=[8,256,256]",
            *(f"model.perf.{k}={v}".replace("'", "") for k, v in {**PLAIN, **option}.items()),
        ]

    torch.manual_seed(0)
    plain = build_module(tiny_cfg(*overrides()))
    state = {k: v.clone() for k, v in plain.state_dict().items()}
    runs = {}
    for name, option in {
        "plain": {},
        "winograd": {"winograd": "true"},
        "folded": {"mpd_layout": "folded"},
        "foreach": {"optimizer": "foreach"},
        "fused": {"optimizer": "fused"},
        "cache": {"cache_weight_norm": "true"},
    }.items():
        module = build_module(tiny_cfg(*overrides(**option)))
        module.load_state_dict(state)
        module = fit(tiny_cfg(*overrides(**option)), 4, tmp_path / name, module=module)
        runs[name] = module._outputs
    for name, steps in runs.items():
        for term in ("d_total", "g_total", "g_mel"):
            assert steps[0][term] == pytest.approx(runs["plain"][0][term], rel=1e-5), (name, term)
        assert all(np.isfinite(s["g_total"]) for s in steps)


def test_bf16_winograd_only_when_asked_and_within_a_few_times_the_direct_bf16_error():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(256, 64, (5, 1), padding=(2, 0))
    x = torch.randn(2, 256, 90, 3)
    ref = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=(2, 0))

    def error(y):
        return float((y.double() - ref).norm() / ref.norm())

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        direct, off, on = (
            conv(x),
            conv_time(conv, x, winograd=True),
            conv_time(conv, x, winograd=True, bf16=True),
        )
    assert torch.equal(off, direct) and on.dtype == direct.dtype == torch.bfloat16
    assert not torch.equal(on, direct)
    assert error(on) < 5 * error(direct), (error(on), error(direct))


@pytest.mark.slow
def test_compiled_parts_keep_the_first_iteration_losses(tiny_cfg, tmp_path):
    """model.perf.compile of the generator's backbone and head (CPU inductor): same first-iteration losses,
    and the state-dict keys do not change (checkpoints stay loadable by the eager model)."""
    torch.manual_seed(0)
    eager = build_module(tiny_cfg())
    compiled = build_module(tiny_cfg("model.perf.compile=[backbone,head]"))
    compiled.load_state_dict(eager.state_dict())
    assert list(compiled.state_dict()) == list(eager.state_dict())
    runs = [
        fit(tiny_cfg(), 2, tmp_path / name, module=m)
        for name, m in (("eager", eager), ("compiled", compiled))
    ]
    for term in ("d_total", "g_mel", "g_total"):
        assert runs[1]._outputs[0][term] == pytest.approx(runs[0]._outputs[0][term], rel=1e-5), term


@pytest.mark.parametrize("period", [2, 3])
def test_folded_layout_is_the_grid_math(period):
    """layout="folded" (Conv1d, periods in the batch): the grid's logits, feature maps (shapes and
    values) and gradients, with and without Winograd."""
    torch.manual_seed(0)
    d = PeriodDiscriminator(period, channels=(8, 32, 64, 256, 256))
    x = torch.randn(2, 3001) * 0.3  # not a multiple of the period: the reflect padding too
    for winograd in (False, True):
        d.winograd = winograd
        out = {}
        for layout in ("grid", "folded"):
            d.layout = layout
            d.zero_grad()
            xx = x.clone().requires_grad_(True)
            y, fmap = d(xx)
            (y.square().mean() + sum(f.abs().mean() for f in fmap)).backward()
            out[layout] = (y, fmap, xx.grad, [p.grad.clone() for p in d.parameters()])
        (yg, fg, xg, pg), (yf, ff, xf, pf) = out["grid"], out["folded"]
        assert yf.shape == yg.shape == (2, 1, yg.shape[2], period)
        assert [f.shape for f in ff] == [f.shape for f in fg]
        for a, b in zip([yf, *ff, xf, *pf], [yg, *fg, xg, *pg], strict=True):  # fp32 rounding: relative L2
            assert float((a - b).detach().norm()) <= 5e-5 * float(b.detach().norm()), (winograd, a.shape)


def test_auto_layout_folds_under_bf16_autocast_and_for_short_periods_on_cpu():
    short, long = PeriodDiscriminator(2, channels=(4, 8)), PeriodDiscriminator(5, channels=(4, 8))
    x = torch.randn(1, 1, 10, 2)
    short.layout = long.layout = "auto"
    assert short.folds(x) and not long.folds(x)  # fp32: by period
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert short.folds(x) and long.folds(x)
    with torch.autocast("cpu", dtype=torch.float16):
        assert not short.folds(x) and not long.folds(x)
    short.layout = "diagonal"
    with pytest.raises(ValueError, match="layout='diagonal'"):
        short.folds(x)


@pytest.mark.parametrize("seed", [0, 1])
def test_bf16_winograd_barely_changes_the_discriminators_gradient_error(seed):
    """The bf16 Winograd conv rounds ~4x more than a direct bf16 conv on its own (test above), but
    inside a discriminator, whose every layer rounds to bf16, the gradients' error against float64
    grows by a few percent only (the basis of model.perf.winograd_bf16's default)."""
    torch.manual_seed(seed)
    d = PeriodDiscriminator(3, channels=(16, 64, 128, 256, 256))
    d.layout = "folded"
    x = torch.randn(4, 6000) * 0.3
    ref = period_gradients(d, x, torch.float64)
    errors = {}
    for on in (False, True):
        d.winograd = d.winograd_bf16 = on
        got = period_gradients(d, x, torch.bfloat16)
        errors[on] = {k: float((got[k] - ref[k]).norm() / ref[k].norm()) for k in ref}
    for k in ref:
        assert 0 < errors[False][k] < 0.1, errors  # the bf16 step's own error: present, bounded
        assert errors[True][k] < 1.15 * errors[False][k], (k, errors)

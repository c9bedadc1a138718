"""StepGuard: clipping at the hook, dropped non-finite gradients, skip counting and the stop."""

from __future__ import annotations

import math

import pytest
import torch

from vocoder_train.training.stepping import NonFiniteLossError, StepGuard


def _module_with_grad(value: float) -> torch.nn.Linear:
    m = torch.nn.Linear(2, 1, bias=False)
    m.weight.grad = torch.full_like(m.weight, value)
    return m


def test_clip_runs_inside_the_step_and_returns_the_unclipped_norm():
    guard, m = StepGuard(max_nonfinite=2), _module_with_grad(3.0)
    seen = []
    norm = guard.step(
        lambda: (guard.clip(), seen.append(m.weight.grad.clone())), m, clip=1.0, what="generator", iteration=5
    )
    assert norm.item() == pytest.approx(math.sqrt(18.0))  # before clipping
    assert seen[0].norm().item() == pytest.approx(1.0, rel=1e-5)  # clipped before the update
    assert guard.skips == 0 and guard.in_a_row == 0


def test_scale_left_on_gradients_is_divided_out():
    guard, m = StepGuard(max_nonfinite=2), _module_with_grad(3.0 * 1024)
    norm = guard.step(lambda: guard.clip(scale_left=1024.0), m, clip=None, what="generator", iteration=0)
    assert norm.item() == pytest.approx(math.sqrt(18.0))


def test_nonfinite_gradients_are_dropped_counted_and_stop_the_run():
    guard = StepGuard(max_nonfinite=2)
    for i in range(2):
        m = _module_with_grad(math.inf)
        assert not torch.isfinite(guard.step(guard.clip, m, clip=1.0, what="discriminator", iteration=i))
        assert m.weight.grad is None  # the optimizer leaves the weights
    assert guard.skips == 2 and guard.in_a_row == 2
    guard.step(guard.clip, _module_with_grad(1.0), clip=1.0, what="discriminator", iteration=2)
    assert guard.in_a_row == 0 and guard.skips == 2  # a finite step ends the row, the total stays
    guard.count("generator loss", 3)
    guard.count("generator loss", 4)
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite generator loss in 3 steps in a row \(at iteration 5\)"
    ):
        guard.count("generator loss", 5)


def test_the_scalers_overflow_skips_do_not_count_toward_the_stop():
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    guard = StepGuard(max_nonfinite=0)
    m = _module_with_grad(math.nan)
    norm = guard.step(
        lambda: guard.clip(drop_nonfinite=False), m, clip=1.0, what="generator", iteration=0, scaler=scaler
    )
    assert not torch.isfinite(norm) and m.weight.grad is not None  # the scaler skips the update itself
    assert guard.skips == 1 and guard.in_a_row == 0


def test_clip_outside_a_step_is_an_error():
    with pytest.raises(RuntimeError, match="outside StepGuard.step"):
        StepGuard(max_nonfinite=1).clip()

"""Learning-rate schedules (by step, by time budget) and the phase rule, without a Trainer."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import Timer

from vocoder_train.training.schedules import (
    OPTIM_REFERENCE,
    Phases,
    cosine_with_warmup,
    iterations_in,
    lr_multiplier,
    mel_phase_over,
    phase_at,
    time_budget,
    time_budget_multiplier,
)


class FakeTimer(Timer):
    """A Timer whose clock is set by hand: ``elapsed`` of ``total`` seconds."""

    def __init__(self, elapsed: float, total: float):
        super().__init__(duration=timedelta(seconds=total))
        self.elapsed = elapsed

    def time_elapsed(self, stage: str = "train") -> float:
        return self.elapsed


def _trainer(timer: Timer | None = None, max_steps: int = -1):
    return SimpleNamespace(callbacks=[timer] if timer else [], world_size=1, max_steps=max_steps)


def _optim(**over) -> dict:
    """model.optim as shipped, with ``over`` changed."""
    return {**OmegaConf.to_container(OmegaConf.load(OPTIM_REFERENCE)), **over}


def test_cosine_with_warmup_shape():
    assert cosine_with_warmup(0, 4, 100, 0.0) == pytest.approx(0.25)
    assert cosine_with_warmup(3, 4, 100, 0.0) == pytest.approx(1.0)
    assert cosine_with_warmup(52, 4, 100, 0.0) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 4, 100, 0.1) == pytest.approx(0.1)
    assert cosine_with_warmup(500, 0, 100, 0.0) == pytest.approx(0.0)


def test_time_budget_variant_is_the_same_cosine_over_the_time_spent():
    for progress in (0.0, 0.25, 0.5, 1.0):
        by_time = time_budget_multiplier(1000, 0, progress, 0.05)
        assert by_time == pytest.approx(cosine_with_warmup(int(progress * 100), 0, 100, 0.05))
    assert time_budget_multiplier(0, 4, 0.0, 0.0) == pytest.approx(0.25)  # warm-up in steps still applies
    assert time_budget_multiplier(1, 4, 0.5, 0.0) == pytest.approx(0.5 * 0.5)
    assert time_budget_multiplier(10, 4, 2.0, 0.1) == pytest.approx(0.1)  # past the budget: the floor


def test_step_horizon_counts_one_optimizer_step_per_single_phase_iteration():
    assert iterations_in(8, 0) == 4  # GAN iterations: D + G
    assert iterations_in(7, 3) == 3 + 2
    assert iterations_in(2, 5) == 2


def test_phase_boundaries_by_iteration():
    assert [phase_at(i, 2, 1) for i in range(5)] == ["mel", "mel", "disc_warmup", "gan", "gan"]
    assert [phase_at(i, 0, 0) for i in range(2)] == ["gan", "gan"]
    assert phase_at(10**6, None, 0) == "mel"  # a timed mel-only phase that has not ended
    phases = Phases(_optim(pretrain_mel_steps=2, disc_warmup_steps=1))
    phases.update(0, _trainer())  # by iteration: the clock plays no part
    assert [phases.phase(i) for i in range(4)] == ["mel", "mel", "disc_warmup", "gan"]


def test_mel_phase_ends_at_its_share_of_the_budget_unless_the_gan_would_be_too_short():
    assert not mel_phase_over(0.74, 100.0, 0.75, 0)
    assert mel_phase_over(0.75, 100.0, 0.75, 0)
    assert not mel_phase_over(0.75, 100.0, 0.75, 120)  # 100 s left < min_gan_seconds: stay mel-only
    assert mel_phase_over(0.75, 150.0, 0.75, 120)


def test_time_budget_latches_the_phase_end():
    phases = Phases(_optim(time_budget=True, pretrain_mel_fraction=0.5, disc_warmup_steps=2))
    phases.update(3, _trainer(FakeTimer(40, 100)))
    assert phases.mel_end is None and phases.phase(3) == "mel"
    phases.update(7, _trainer(FakeTimer(50, 100)))
    assert phases.mel_end == 7
    phases.update(9, _trainer(FakeTimer(60, 100)))  # latched: later clocks change nothing
    assert [phases.phase(i) for i in (6, 7, 8, 9)] == ["mel", "disc_warmup", "disc_warmup", "gan"]


def test_time_budget_too_short_for_a_gan_stays_mel_only():
    phases = Phases(_optim(time_budget=True, pretrain_mel_fraction=0.5, min_gan_seconds=60))
    for it, elapsed in enumerate((40, 50, 70, 99)):
        phases.update(it, _trainer(FakeTimer(elapsed, 100)))
    assert phases.mel_end is None and phases.state_dict() == {"mel_end_iteration": None}


def test_resume_restores_the_phase_end():
    optim = _optim(time_budget=True, pretrain_mel_fraction=0.5)
    before = Phases(optim)
    before.update(12, _trainer(FakeTimer(55, 100)))
    after = Phases(optim)
    after.load_state_dict(before.state_dict())
    assert after.mel_end == 12
    after.update(20, _trainer(FakeTimer(0, 100)))  # a resumed run's clock restarts: the end stays
    assert [after.phase(i) for i in (11, 12)] == ["mel", "gan"]
    by_steps = Phases(_optim(pretrain_mel_steps=3))
    by_steps.load_state_dict({"mel_end_iteration": None})  # by iteration the config decides
    assert by_steps.mel_end == 3


def test_timer_lookup_and_progress():
    assert time_budget(_trainer()) is None
    progress, remaining = time_budget(_trainer(FakeTimer(30, 120)))
    assert progress == pytest.approx(0.25) and remaining == pytest.approx(90)


def test_lr_multiplier_by_step_and_by_time():
    phases = Phases(_optim(pretrain_mel_steps=1))
    by_step = lr_multiplier(_optim(warmup_steps=2, pretrain_mel_steps=1), _trainer(max_steps=5), phases)
    assert by_step(3) == pytest.approx(cosine_with_warmup(3, 2, iterations_in(5, 1), 0.0))
    fixed = lr_multiplier(_optim(total_iterations=10), _trainer(max_steps=5), Phases(_optim()))
    assert fixed(5) == pytest.approx(cosine_with_warmup(5, 0, 10, 0.0))
    with pytest.raises(ValueError, match="model.optim.total_iterations is needed"):
        lr_multiplier(_optim(), _trainer(max_steps=-1), Phases(_optim()))
    timed = _optim(time_budget=True, min_lr_ratio=0.1)
    assert lr_multiplier(timed, _trainer(FakeTimer(100, 100)), Phases(timed))(50) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="needs trainer.max_time"):
        lr_multiplier(timed, _trainer(), Phases(timed))(0)

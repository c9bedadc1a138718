"""A real training process killed (SIGKILL) or stopped by a scheduler (SIGTERM) mid-epoch; the same
command then continues exactly: the later losses and the final weights equal an uninterrupted run's."""

from __future__ import annotations

import signal

import pytest

from tests.helpers.audio import write_tiny_corpus
from tests.helpers.runs import (
    assert_same_run,
    recording_command,
    resumable_overrides,
    rows,
    run,
    run_and_signal,
)
from vocoder_train.io.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted run both tests compare with, trained once."""
    folder = tmp_path_factory.mktemp("resume")
    corpus = write_tiny_corpus(folder)
    log = folder / "reference.jsonl"
    run(recording_command(folder, log, resumable_overrides(corpus, folder, folder / "ref")))
    return {"folder": folder, "corpus": corpus, "log": log}


@pytest.mark.slow
def test_sigkill_then_rerun_continues_exactly(reference, tmp_path):
    log = tmp_path / "killed.jsonl"
    command = recording_command(
        tmp_path, log, resumable_overrides(reference["corpus"], tmp_path, tmp_path / "run")
    )
    run_and_signal(
        command, log, step=11, sig=signal.SIGKILL
    )  # after the 2nd validation (a checkpoint at iteration 6)
    assert 11 <= max(rows(log)) < 17, "the process must die mid-run"
    run(command)
    assert_same_run(reference["log"], log)


@pytest.mark.slow
def test_sigterm_mid_epoch_saves_the_step_exits_143_and_resumes_exactly(reference, tmp_path):
    log = tmp_path / "stopped.jsonl"
    command = recording_command(
        tmp_path, log, resumable_overrides(reference["corpus"], tmp_path, tmp_path / "run")
    )
    code, seconds, stderr = run_and_signal(command, log, step=10, sig=signal.SIGTERM)
    stopped_at = max(rows(log))
    assert code == 143, stderr[-2000:]
    assert 10 <= stopped_at < 17 and stopped_at != 15, (
        "the stop must fall mid-run, between validations (steps 9, 15)"
    )
    last = load_checkpoint(tmp_path / "run" / "tiny" / "checkpoints" / "last.ckpt")
    assert int(last["global_step"]) == stopped_at  # not the step of the last validation
    assert "stopped by SIGTERM" in stderr and seconds < 30
    run(command)
    assert_same_run(reference["log"], log)

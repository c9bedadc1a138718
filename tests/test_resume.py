"""SIGKILL a real training process, re-run the same command: it continues exactly."""

from __future__ import annotations

import signal

import pytest

from tests.helpers.runs import (
    assert_same_run,
    recording_command,
    resumable_overrides,
    rows,
    run,
    run_and_signal,
)


@pytest.mark.slow
def test_sigkill_then_rerun_continues_exactly(tiny_corpus, tmp_path):
    ref_log, log = tmp_path / "reference.jsonl", tmp_path / "killed.jsonl"
    run(recording_command(tmp_path, ref_log, resumable_overrides(tiny_corpus, tmp_path, tmp_path / "ref")))
    command = recording_command(tmp_path, log, resumable_overrides(tiny_corpus, tmp_path, tmp_path / "run"))
    run_and_signal(command, log, step=11, sig=signal.SIGKILL)  # after the 2nd validation (a checkpoint at iteration 6)
    assert 11 <= max(rows(log)) < 17, "the process must die mid-run"
    run(command)
    assert_same_run(ref_log, log)

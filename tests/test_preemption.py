"""A scheduler's stop signal (SIGTERM, SIGUSR1/2) to any rank of a DDP run: every rank stops at the same
step with a checkpoint of it, the process exits non-zero, and the same command continues exactly; a
launcher's own handler runs after the checkpoint. One process: tests/test_resume.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.runs import (
    assert_same_run,
    recording_command,
    resumable_overrides,
    rows,
    run,
    run_and_signal,
)
from vocoder_train.io.checkpoint import load_checkpoint

DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true"]


def _checkpoint_step(run_dir) -> int:
    return int(load_checkpoint(run_dir / "tiny" / "checkpoints" / "last.ckpt")["global_step"])


@pytest.mark.slow
def test_sigterm_to_rank_1_only_stops_both_ranks_at_one_step(tiny_corpus, tmp_path):
    ref_log, log = tmp_path / "reference.jsonl", tmp_path / "stopped.jsonl"
    run(
        recording_command(
            tmp_path, ref_log, resumable_overrides(tiny_corpus, tmp_path, tmp_path / "ref", *DDP)
        )
    )
    command = recording_command(
        tmp_path, log, resumable_overrides(tiny_corpus, tmp_path, tmp_path / "run", *DDP)
    )
    code, _, stderr = run_and_signal(command, log, step=10, sig=signal.SIGTERM, rank=1)
    assert code == 143, stderr[-2000:]
    rank1 = int((tmp_path / "stopped.jsonl.rank1.pid").read_text())
    for _ in range(100):  # rank 1 exits by itself too
        if not os.path.exists(f"/proc/{rank1}") or open(f"/proc/{rank1}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("rank 1 still running")
    stopped = max(rows(log))
    assert stopped == max(rows(tmp_path / "stopped.jsonl.rank1")) < 17  # both ranks ended on the same step
    assert _checkpoint_step(tmp_path / "run") == stopped
    run(command)
    assert_same_run(ref_log, log)
    assert_same_run(tmp_path / "reference.jsonl.rank1", tmp_path / "stopped.jsonl.rank1")


_OUTER = """
import os, signal, sys
sys.argv = sys.argv[1:]
def requeue(signum, frame):  # what submitit's handler does on rank 0: requeue the job, then exit
    open(os.environ["REQUEUED"], "w").write(str(os.path.getsize(os.environ["CKPT"])))
    sys.exit(-1)
signal.signal(signal.SIGUSR2, requeue)
exec(open(sys.argv[0]).read())
"""


@pytest.mark.slow
def test_sigusr2_hands_over_to_the_launchers_handler_after_the_checkpoint(tiny_corpus, tmp_path):
    log = tmp_path / "stopped.jsonl"
    command = recording_command(tmp_path, log, resumable_overrides(tiny_corpus, tmp_path, tmp_path / "run"))
    wrapper = tmp_path / "outer.py"
    wrapper.write_text(_OUTER)
    marker, ckpt = tmp_path / "requeued", tmp_path / "run" / "tiny" / "checkpoints" / "last.ckpt"
    os.environ.update(REQUEUED=str(marker), CKPT=str(ckpt))
    try:
        code, _, stderr = run_and_signal(
            [sys.executable, str(wrapper), *command[1:]], log, step=4, sig=signal.SIGUSR2
        )
    finally:
        del os.environ["REQUEUED"], os.environ["CKPT"]
    assert code == 255, stderr[-2000:]  # the launcher's own exit
    assert int(marker.read_text()) > 0  # it ran once the checkpoint existed
    assert _checkpoint_step(tmp_path / "run") == max(rows(log))


def test_data_workers_ignore_stop_signals():
    code = (
        "import os, signal; from vocoder_train.io.signals import ignore_stop_signals; "
        "ignore_stop_signals(0); "
        "[os.kill(os.getpid(), s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)]; print('alive')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "alive", r.stderr

"""Training the tiny experiment in a real subprocess that records every iteration, to kill, signal
and re-run it as a user or a scheduler would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

_SCRIPT = """
import json, os, sys, time, torch, pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from vocoder_train.config import CONFIG_DIR
from vocoder_train.training.run import train

class Record(pl.Callback):
    def _log(self, trainer):
        return sys.argv[1] + (f".rank{trainer.global_rank}" if trainer.global_rank else "")

    def on_train_start(self, trainer, module):
        with open(self._log(trainer) + ".pid", "w") as f:
            f.write(str(os.getpid()))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        row = {"step": trainer.global_step, "iteration": module.iteration,
               "lr_g": module.optimizers()[0].param_groups[0]["lr"],
               **{k: float(v) for k, v in outputs.items()}}
        with open(self._log(trainer), "a") as f:
            f.write(json.dumps(row) + "\\n")
        time.sleep(float(os.environ.get("STEP_SLEEP", "0")))

    def on_train_end(self, trainer, module):
        torch.save(module.state_dict(), self._log(trainer) + ".final.pt")

torch.set_num_threads(1)
with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=sys.argv[2:])
train(cfg, callbacks=[Record()])
"""


def rows(log: Path) -> dict[int, dict]:
    """``{optimizer step: recorded row}`` of a run's log (later rows win: a resumed run redoes steps)."""
    return {r["step"]: r for r in map(json.loads, log.read_text().splitlines())} if log.exists() else {}


def recording_command(tmp_path: Path, log: Path, overrides: list[str]) -> list[str]:
    """The command that trains with ``overrides`` and appends each iteration's outputs to ``log``
    (rank r > 0: ``log.rank<r>``), writes ``<log>.pid`` at the start of training and the module's
    final state to ``<log>.final.pt``."""
    script = tmp_path / "record_run.py"
    script.write_text(_SCRIPT)
    return [sys.executable, str(script), str(log), *overrides]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def run_and_signal(
    command: list[str],
    log: Path,
    step: int,
    sig: int,
    rank: int = 0,
    step_sleep: float = 0.4,
    timeout: float = 300,
) -> tuple[int, float, str]:
    """Starts ``command``; once rank 0 has logged optimizer step ``step``, sends ``sig`` to rank
    ``rank``'s process only. Returns the exit status, the seconds from the signal to the exit and stderr."""
    proc = subprocess.Popen(
        command,
        env=env(STEP_SLEEP=str(step_sleep)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = Path(f"{log}.rank{rank}.pid" if rank else f"{log}.pid")
    deadline = time.time() + timeout
    while max(rows(log), default=0) < step or not pid_file.exists():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.time() < deadline, f"step {step} not reached in {timeout} s"
        time.sleep(0.05)
    sent = time.monotonic()
    os.kill(int(pid_file.read_text()), sig)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, time.monotonic() - sent, stderr


def run(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs ``command`` to the end; it must succeed."""
    r = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def resumable_overrides(tiny_corpus: dict, tmp_path: Path, runs: Path, *extra: str) -> list[str]:
    """The tiny experiment for 17 optimizer steps over 12 training items (6 batches an epoch, so a
    stop falls mid-epoch), a validation (and ``last.ckpt``) every 3 iterations, with the EMA, and
    ``onednn=false``: oneDNN's conv backward is not bitwise reproducible after a restore (measured
    ~1e-6 relative drift in D gradients), without it a continuation is bitwise exact."""
    files = Path(tiny_corpus["train"]).read_text().split()
    train_list = tmp_path / "train12.txt"
    train_list.write_text("\n".join(files * 4) + "\n")
    return [
        "experiment=tiny",
        f"data.train={train_list}",
        f"data.val={tiny_corpus['val']}",
        f"paths.runs_dir={runs}",
        "trainer.max_steps=17",
        "trainer.val_check_interval=3",
        "model.optim.pretrain_mel_steps=3",
        "model.optim.warmup_steps=2",
        "callbacks=ema",
        "onednn=false",
        *extra,
    ]


def assert_same_run(ref_log: Path, log: Path, last_step: int = 17) -> None:
    """The interrupted-then-resumed run logged every step the reference did, with bitwise equal
    losses and learning rates, and ended with bitwise equal weights."""
    import torch

    ref, got = rows(ref_log), rows(log)
    assert max(got) == last_step and sorted(got) == sorted(ref)
    for step in ref:  # steps redone after a restart overwrote the interrupted run's rows
        assert got[step] == ref[step], step
    a, b = torch.load(f"{ref_log}.final.pt"), torch.load(f"{log}.final.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(b[k], a[k]), k

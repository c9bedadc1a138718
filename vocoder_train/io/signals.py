"""The signals that ask a training run to stop early (preemption, a time limit), and what worker
processes do with them.

SIGTERM comes from Kubernetes, spot-instance reclaim, ``scancel`` and ``docker stop``; SLURM sends
SIGUSR1 or SIGUSR2 before a time limit when asked to (``--signal``; submitit asks for SIGUSR2 by
default). The training process decides when to stop; data-loader workers leave that decision to it.
"""

from __future__ import annotations

import signal

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def exit_code(signum: int) -> int:
    """The shell's status for a process ended by ``signum`` (143 for SIGTERM), which schedulers and
    orchestrators read as "stopped by a signal", not "finished"."""
    return 128 + int(signum)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """``DataLoader(worker_init_fn=...)``: a worker ignores the stop signals, so that one sent to the
    whole process group (``scancel``, Ctrl-\\ in a terminal, ``kill -- -PGID``) does not kill the
    workers under the training process before it has saved its checkpoint; they end with it."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)

"""Several "nodes" on localhost: one torchrun agent a node, each in a session of its own, joined by a c10d
rendezvous, each agent running ``vocoder-train`` (``python -m vocoder_train.cli.train``)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.ddp import subprocess_env

JOIN_TIMEOUT_S = 60  # an agent whose peers never join gives up after this (torchrun's default: 600)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of the call)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_command(node: int, nodes: int, port: int, run_id: str, overrides: list[str]) -> list[str]:
    """The torchrun agent of the ``node``-th node: one training process, rendezvous at ``127.0.0.1:port``.

    The c10d rendezvous numbers the nodes itself (torchrun ignores ``--node-rank`` with it), so the node
    that gets rank 0 is not fixed. ``is_host`` makes the first agent host the rendezvous store: on a real
    cluster the agent on the machine named by ``--rdzv-endpoint`` does so by itself, but here every agent
    is on that machine."""
    conf = f"join_timeout={JOIN_TIMEOUT_S},is_host={int(node == 0)}"
    return [
        *(sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}", "--nproc-per-node=1"),
        *("--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", f"--rdzv-id={run_id}"),
        *(f"--rdzv-conf={conf}", "--max-restarts=0", "-m", "vocoder_train.cli.train", *overrides),
    ]


def kill_agent(agent: subprocess.Popen) -> None:
    """Kills a torchrun agent and its training processes (torchrun starts each in a session of its own)."""
    for pid in [*_children(agent.pid), agent.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    agent.wait()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:  # the field after the state
                out.append(int(stat.parent.name))
    return out


def run_agents(
    folder: Path, name: str, overrides: list[str], nodes: int = 2, timeout: float = 240
) -> list[str]:
    """Starts the agents of ``nodes`` nodes (each in its own session, its log ``folder/<name>.node<r>.log``)
    and waits for all of them; returns their logs. Fails when any agent fails or the run takes longer than
    ``timeout`` seconds, after killing the agents still running and their training processes."""
    port = free_port()
    logs = [folder / f"{name}.node{r}.log" for r in range(nodes)]
    procs: list[subprocess.Popen] = []
    try:
        for r, log in enumerate(logs):
            with open(log, "w") as f:  # a file, not a pipe: a full pipe would block the run
                procs.append(
                    subprocess.Popen(
                        agent_command(r, nodes, port, name, overrides),
                        cwd=folder,
                        stdout=f,
                        stderr=subprocess.STDOUT,
                        env=subprocess_env(),
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs):
            failed = any(p.returncode not in (None, 0) for p in procs)
            if failed:  # give the others a moment to notice and exit by themselves
                deadline = min(deadline, time.monotonic() + 15)
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        killed = [p.poll() is None for p in procs]
        for p, kill in zip(procs, killed):
            if kill:
                kill_agent(p)
    texts = [log.read_text() for log in logs]
    for r, (p, kill, text) in enumerate(zip(procs, killed, texts)):
        why = f"killed, running after {timeout} s or another node's failure" if kill else "failed"
        assert p.returncode == 0, f"node {r}: {why} (exit status {p.returncode})\n{text[-4000:]}"
    return texts

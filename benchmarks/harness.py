"""The pieces every benchmark shares: options, clocks, timing loops, the machine line, tables, registry.

A benchmark is a module ``benchmarks/bench_<name>.py`` with a ``BENCHMARK = Benchmark(...)``: a
``run(opts) -> result`` that times ours and its peer in the same process at the same precision, and a
``format(result, opts) -> str`` that turns the result into a Markdown table of medians (min-max) and
ratios. :data:`REGISTRY` lists them for ``python -m benchmarks.run``; everything a benchmark may vary
on comes in the one :class:`Options` object, never through module globals.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the console scripts of this environment (vocoder-train, ...)
PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}  # the precisions compared at -> Lightning's names


# -- options ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the benchmarks may vary on; each one reads the fields it needs."""

    quick: bool = False  # small cases, few repetitions: a smoke run
    batch: int = 16  # training batch (step, options, winograd)
    segment: int = 16384  # training / loader crop in samples
    reps: int = 3  # timed training iterations
    precisions: tuple[str, ...] = ("fp32", "bf16")  # keys of PRECISIONS
    threads: int = 2  # torch / numba / onnxruntime threads
    lookahead: int = 4  # stream: the non-causal row's look-ahead in frames
    small: bool = False  # stream: the demo-size generators
    clock: str = "wall"  # "wall" or "thread" (this thread's CPU seconds)
    device: str = "cpu"  # where step and options train: "cpu" or "cuda"
    rss: bool = True  # step: peak RSS of each variant in a fresh subprocess
    iterations: int | None = None  # drift: training iterations (None: 10 with quick, else 200)

    @classmethod
    def resolve(
        cls,
        quick: bool = False,
        batch: int | None = None,
        segment: int | None = None,
        reps: int | None = None,
        **kw,
    ) -> Options:
        """Options with the sizes left out (None) at their ``quick`` or full defaults."""
        return cls(
            quick=quick,
            batch=batch or (2 if quick else 16),
            segment=segment or (8192 if quick else 16384),
            reps=reps or (2 if quick else 3),
            **kw,
        )

    def now(self) -> float:
        """Seconds on the chosen clock: wall (default) or this thread's CPU time."""
        return time.thread_time() if self.clock == "thread" else time.perf_counter()


def entry_point(
    doc: str | None, threads: int = 2, help: str = "torch / numba / onnxruntime threads"
) -> argparse.ArgumentParser:
    """The argument parser of a benchmark's command line (``python -m benchmarks.<module>``), with
    ``--threads``; first the package's runtime setup, as its entry points do (numba's threading layer
    is chosen before its pool starts). Parse with :func:`parse`."""
    from vocoder_train.config.runtime import setup

    setup()
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=threads, help=help)
    return ap


def parse(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``ap``'s arguments, with the thread count set."""
    args = ap.parse_args(argv)
    set_threads(args.threads)
    return args


def set_threads(threads: int) -> None:
    """torch's intra-op threads, and numba's parallel kernels as many (none when numba is missing)."""
    from vocoder_train.kernels import sync_numba_threads

    torch.set_num_threads(threads)
    sync_numba_threads()


# -- the registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    name: str
    heading: str  # the section's "## ..." heading in ``benchmarks.run``
    run: Callable[[Options], Any]
    format: Callable[[Any, Options], str]


# name -> (module, part of the default run); ``benchmarks.run`` runs them in this order
REGISTRY: dict[str, tuple[str, bool]] = {
    "step": ("benchmarks.bench_step", True),
    "encodec": ("benchmarks.bench_encodec", True),
    "options": ("benchmarks.bench_options", True),
    "loader": ("benchmarks.bench_loader", True),
    "infer": ("benchmarks.bench_infer", True),
    "stream": ("benchmarks.bench_stream", True),
    "kernels": ("benchmarks.bench_kernels", True),
    "winograd": ("benchmarks.bench_winograd", False),
    "drift": ("benchmarks.bench_drift", False),
    "data": ("benchmarks.bench_data", False),
}
DEFAULT = tuple(name for name, (_, default) in REGISTRY.items() if default)


def load(name: str) -> Benchmark:
    """The registered benchmark ``name`` (its module imported only now: they import heavy things)."""
    return importlib.import_module(REGISTRY[name][0]).BENCHMARK


# -- timing ----------------------------------------------------------------------------------------


def sync(device: str | torch.device) -> None:
    """Waits for queued CUDA work, so wall-clock times cover it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_runs(
    fn: Callable[[], object], reps: int, warmup: int = 2, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Seconds of each of ``reps`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def alternate(
    fns: dict[str, Callable[[], object]], reps: int, clock: Callable[[], float] = time.perf_counter
) -> dict[str, list[float]]:
    """Seconds per call of each of ``fns``, called in turn ``reps`` rounds (no warm-up), so that
    machine-load drift hits all alike."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            out[k] += time_runs(fn, 1, warmup=0, clock=clock)
    return out


def ab_schedule(groups: list[list[str]], rounds: int) -> list[tuple[int, str]]:
    """(round, variant) in the order the step and options benchmarks run them: one group (a precision)
    after the other, as a training run uses one; each group's variants once per round (round 0 is its
    warm-up), in the given order in even rounds and reversed in odd ones, so none always runs first."""
    return [
        (r, name) for group in groups for r in range(rounds) for name in group[:: 1 if r % 2 == 0 else -1]
    ]


def progress(section: str, text: str) -> None:
    """A progress line on stderr (the tables go to stdout)."""
    print(f"  [{section}] {text}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` across
    fork + exec, so a probe started by a big parent would report the parent's peak."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now (VmRSS; 0 where /proc is missing)."""
    return _status_mb("VmRSS")


def _status_mb(key: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_logged(cmd: list[str], log: Path) -> None:
    """Runs ``cmd`` from the repository root with its output in ``log``; exits on failure."""
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n  see {log}")


# -- printing --------------------------------------------------------------------------------------


def machine_line(threads: int, clock: str = "wall", device: str = "cpu") -> str:
    """The CPU line printed above every benchmark's tables."""
    model = platform.processor() or "?"
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    isa = ", ".join(f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags) or "no AVX-512"
    line = (
        f"CPU: {model} ({os.cpu_count()} logical cores; {isa}); torch {torch.__version__} "
        f"(capability {torch.backends.cpu.get_cpu_capability()}); threads {threads}; Python "
        f"{platform.python_version()}"
    )
    if clock == "thread":
        line += "; times are thread CPU seconds"
    if torch.device(device).type == "cuda":
        line += f"; step and options on {torch.cuda.get_device_name()}"
    return line


def stats(ts: list[float]) -> tuple[float, float, float]:
    return statistics.median(ts), min(ts), max(ts)


def step_rows(times: dict[str, list[float]], audio_seconds: float, last: Callable[[str], str]) -> list[str]:
    """A step table's rows: per variant ("ours fp32", "upstream fp32", ...) its times, the ratio to the
    upstream variant at the same precision, audio seconds per second, and ``last(name)``."""
    rows = []
    for name, ts in times.items():
        m, ref = statistics.median(ts), statistics.median(times[f"upstream {name.split()[1]}"])
        rows.append(f"| {name} | {fmt_s(ts)} | {m / ref:.3f} | {audio_seconds / m:.2f} | {last(name)} |")
    return rows


def loss_cells(losses: dict[str, list[dict]], precisions: list[str], iteration: int, term: str) -> list[str]:
    """A loss table's cells for ``term`` at ``iteration``: per precision ours, upstream and their relative
    difference (``losses`` keyed "ours fp32", "upstream fp32", ...)."""
    cells = []
    for p in precisions:
        v, up = losses[f"ours {p}"][iteration].get(term), losses[f"upstream {p}"][iteration].get(term)
        diff = f"{abs(v - up) / max(abs(up), 1e-12):.2e}" if v is not None and up is not None else "-"
        cells += [f"{v:.6f}" if v is not None else "-", f"{up:.6f}" if up is not None else "-", diff]
    return cells


def fmt_s(ts: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (min-max)`` of ``ts`` times ``scale``."""
    m, lo, hi = stats(ts)
    return f"{m * scale:.{digits}f} ({lo * scale:.{digits}f}-{hi * scale:.{digits}f})"


def ratio_table(
    title: str,
    columns: tuple[str, str],
    values: dict[str, list[float]],
    ref_name: str,
    ratio_label: str,
    digits: int = 2,
    extra: dict[str, str] | None = None,
    extra_label: str = "",
) -> str:
    """A markdown table: one row per entry of ``values`` with its median (min-max) and its ratio to
    ``ref_name``'s median, plus an optional ``extra`` column."""
    ref = statistics.median(values[ref_name])
    cols = [columns[0], f"{columns[1]}, median (min-max)", ratio_label] + ([extra_label] if extra else [])
    lines = [title, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, v in values.items():
        cells = [name, fmt_s(v, digits=digits), f"{statistics.median(v) / ref:.2f}"] + (
            [extra[name]] if extra else []
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

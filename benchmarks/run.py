"""Performance harness: ours side by side with the upstream peers, in one process.

    python -m benchmarks.run [--quick] [--only NAME ...] [--batch 16] [--segment 16384]
                             [--precision fp32,bf16] [--threads 2] [--reps 3] [--json out.json]

Sections (each a Markdown table; every timing is ours and the peer alternated in the same process,
so machine-load drift hits both alike; medians with min-max; ratios at the same precision), one
module ``benchmarks/bench_<name>.py`` each:

* ``step``: one GAN iteration (D step + G step), base config, ``VocoderGAN.training_step`` through
  Lightning vs the upstream Vocos step rebuilt from vocos' modules, per precision; losses compared.
* ``options``: each ``model.perf`` speed option alone against the plain step, at its precision.
* ``loader``: items/s of one worker: our ``AudioDataset`` vs ``torchaudio.load`` + resample + crop.
* ``infer``: real-time factor of ``vocos.Vocos.decode`` vs our TorchScript, ONNX Runtime and fused
  engines.
* ``stream``: per-push compute and latency of the streamers (:mod:`benchmarks.bench_stream`).
* ``kernels``: the loss-kernel table of :mod:`benchmarks.bench_kernels`.
* ``winograd`` (only when named): the Winograd conv table of :mod:`benchmarks.bench_winograd`.
* ``data`` (only when named): the training loader from shards vs per-file (local disk, S3 with
  20 ms a request) and its memory as the corpus grows (:mod:`benchmarks.bench_data`; minutes).

``--quick``: batch 2 x 8192, 2 timed repetitions, small cases, three speed-option variants (a few minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks import harness


def parser() -> argparse.ArgumentParser:
    ap = harness.entry_point(__doc__)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="batch 2 x 8192, 2 repetitions, small cases: a smoke run of every section (a few minutes)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"sections to run, by name (also comma-separated): {', '.join(harness.REGISTRY)} "
        f"(default: {','.join(harness.DEFAULT)})",
    )
    ap.add_argument("--batch", type=int, default=None, help="training batch (default 16; --quick: 2)")
    ap.add_argument(
        "--segment", type=int, default=None, help="training crop in samples (default 16384; --quick: 8192)"
    )
    ap.add_argument(
        "--precision", default="fp32,bf16", help="our step's precision(s): fp32, bf16 or fp32,bf16"
    )
    ap.add_argument(
        "--lookahead", type=int, default=4, help="stream section: the non-causal row's look-ahead in frames"
    )
    ap.add_argument(
        "--clock",
        choices=("wall", "thread"),
        default="wall",
        help="wall: wall-clock seconds; thread: this thread's CPU seconds with --threads 1, for a machine "
        "that other jobs share (a ratio of CPU times, not of 2-thread wall times)",
    )
    ap.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the step and options sections train (auto: cuda when a GPU is visible)",
    )
    ap.add_argument(
        "--reps", type=int, default=None, help="timed training iterations (default 3; --quick: 2)"
    )
    ap.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="drift section: training iterations (default 200; --quick: 10)",
    )
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    return ap


def options(ap: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[harness.Options, list[str]]:
    """The checked options and the sections to run, in the registry's order."""
    selected = {s.strip() for item in args.only or harness.DEFAULT for s in item.split(",") if s.strip()}
    if unknown := selected - set(harness.REGISTRY):
        ap.error(f"--only: unknown section(s) {sorted(unknown)}")
    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    if set(precisions) - set(harness.PRECISIONS):
        ap.error(f"--precision: choose from {sorted(harness.PRECISIONS)}")
    if args.clock == "thread" and args.threads != 1:
        ap.error("--clock thread needs --threads 1 (CPU time of other threads is not counted)")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible")
    opts = harness.Options.resolve(
        args.quick,
        args.batch,
        args.segment,
        args.reps,
        precisions=precisions,
        threads=args.threads,
        lookahead=args.lookahead,
        small=args.quick,  # --quick: the demo-size stream generators
        clock=args.clock,
        device=device,
        rss=not args.no_rss,
        iterations=args.iterations,
    )
    return opts, [name for name in harness.REGISTRY if name in selected]


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = harness.parse(ap, argv)
    opts, names = options(ap, args)
    machine = harness.machine_line(opts.threads, opts.clock, opts.device)
    results: dict = {"machine": machine, "args": vars(args), "options": vars(opts)}
    print(machine)
    print(f"command: python -m benchmarks.run {' '.join(argv if argv is not None else sys.argv[1:])}\n")
    t_start = time.perf_counter()
    for name in names:
        bench = harness.load(name)
        results[name] = bench.run(opts)
        print(f"## {bench.heading}\n\n{bench.format(results[name], opts)}\n", flush=True)
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

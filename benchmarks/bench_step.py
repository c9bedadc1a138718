"""Training step: one GAN iteration (D step + G step) of ours against the upstream Vocos step, per precision.

Ours is ``VocoderGAN.training_step`` driven by a Lightning ``Trainer`` (precision ``32-true`` /
``bf16-mixed``, default speed options); the peer is :class:`benchmarks.upstream.UpstreamStep` at the
same precision (fp32, or bf16 autocast with the same fp32 islands), each precision as its own block.
All start from the same weights and see the same batches; the losses of the first 3 iterations are
compared. Peak RSS is measured in a fresh subprocess per variant (2 iterations each, CPU only):

    python -m benchmarks.bench_step --rss-probe "ours fp32" [--batch 16] [--segment 16384] [--threads 2]
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks import harness
from benchmarks.harness import ROOT, Benchmark, Options, ab_schedule, loss_cells, progress, step_rows, sync
from benchmarks.ours import build_ours, ours_step, quiet_lightning
from benchmarks.upstream import SR, TERMS, UpstreamStep, make_batches


def run(opts: Options) -> dict:
    quiet_lightning()
    peer = UpstreamStep(seed=0)
    ours = {p: build_ours(peer) for p in opts.precisions}
    rounds = opts.reps + 1  # round 0 is warm-up (numba JIT, oneDNN primitives, optimizer state)
    batches = make_batches(rounds, opts.batch, opts.segment, seed=1)
    names = [f"{who} {p}" for p in opts.precisions for who in ("ours", "upstream")]
    times: dict[str, list[float]] = {k: [] for k in names}
    losses: dict[str, list[dict]] = {k: [] for k in names}
    peers = {
        p: UpstreamStep(seed=0, device=opts.device) for p in opts.precisions
    }  # one optimizer state per precision, as ours
    for r, name in ab_schedule([[f"ours {p}", f"upstream {p}"] for p in opts.precisions], rounds):
        who, precision = name.split()
        if who == "ours":
            dt, ls = ours_step(ours[precision], batches[r], precision, opts)
        else:
            sync(opts.device)
            t0 = opts.now()
            ls = peers[precision].step(batches[r], precision)
            sync(opts.device)
            dt = opts.now() - t0
        if r > 0:
            times[name].append(dt)
        losses[name].append(ls)
        progress("step", f"round {r} {name}: {dt:.2f} s")
    del ours, peer, peers
    rss = {}
    if opts.rss and opts.device == "cpu":  # host memory; on a GPU the peak is elsewhere
        for name in times:
            rss[name] = rss_probe(name, opts)
    return {"times": times, "losses": losses, "rss_mb": rss}


def format_step(res: dict, opts: Options) -> str:
    times, rss = res["times"], res["rss_mb"]
    lines = [
        f"Training step (D + G), batch {opts.batch} x {opts.segment}, base config; "
        f"{opts.reps} timed iterations after 1 warm-up; each of ours against upstream at the same precision",
        "",
        "| variant | s / iteration, median (min-max) | ratio to upstream, same precision | audio s / s | "
        "peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    lines += step_rows(
        times, opts.batch * opts.segment / SR, lambda name: f"{rss[name]:.0f}" if rss.get(name) else "-"
    )
    pairs = [p.split()[1] for p in times if p.startswith("ours")]
    lines += [
        "",
        "Losses of the first iterations from the same weights and batches, ours vs upstream at the same "
        "precision (rel. diff = |ours - upstream| / |upstream|):",
        "",
    ]
    head = (
        "| iteration | term | " + " | ".join(f"ours {p} | upstream {p} | rel. diff {p}" for p in pairs) + " |"
    )
    lines += [head, "|" + "---|" * (2 + 3 * len(pairs))]
    for it in range(min(3, len(res["losses"][f"upstream {pairs[0]}"]))):
        for term in TERMS:
            lines.append(
                f"| {it + 1} | {term} | " + " | ".join(loss_cells(res["losses"], pairs, it, term)) + " |"
            )
    return "\n".join(lines)


BENCHMARK = Benchmark("step", "Training step", run, format_step)


# -- peak RSS, one variant per fresh process ---------------------------------------------------------


def rss_probe(name: str, opts: Options) -> float | None:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_step",
        "--rss-probe",
        name,
        "--batch",
        str(opts.batch),
        "--segment",
        str(opts.segment),
        "--threads",
        str(opts.threads),
    ]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    try:
        return float(json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mb"])
    except (IndexError, ValueError, KeyError):
        print(f"  [rss] {name} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
        return None


def run_rss_probe(name: str, opts: Options) -> float:
    """In this (fresh) process: build variant ``name`` ("ours fp32", "upstream bf16", ...), run 2
    iterations on the CPU; the peak RSS in MB."""
    quiet_lightning()
    who, precision = name.split()
    peer = UpstreamStep(seed=0)
    batches = make_batches(2, opts.batch, opts.segment, seed=1)
    if who == "ours":
        module = build_ours(peer)
        del peer
        for b in batches:
            ours_step(module, b, precision, opts)
    else:
        for b in batches:
            peer.step(b, precision)
    return harness.peak_rss_mb()


def main(argv: list[str] | None = None) -> int:
    ap = harness.entry_point(__doc__)
    ap.add_argument("--rss-probe", required=True, metavar="VARIANT", help='e.g. "ours fp32", "upstream bf16"')
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--segment", type=int, default=16384)
    args = harness.parse(ap, argv)
    opts = Options(batch=args.batch, segment=args.segment, threads=args.threads, device="cpu")
    print(json.dumps({"peak_rss_mb": run_rss_probe(args.rss_probe, opts)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed options: each ``model.perf`` option alone against the plain step (every option off) at its
precision, from the same weights and batches, A/B alternated; then the defaults, and the bf16 variants.
``--quick``: three variants and no compiling."""

from __future__ import annotations

import json
import statistics

from benchmarks.harness import Benchmark, Options, ab_schedule, fmt_s, progress
from benchmarks.ours import build_ours, ours_step, quiet_lightning
from benchmarks.upstream import TERMS, UpstreamStep, make_batches

VARIANTS = {  # name: (model.perf options over PLAIN, or None for the defaults; precision)
    "plain": ({}, "fp32"),
    "winograd": ({"winograd": True}, "fp32"),
    "MPD folded layout": ({"mpd_layout": "folded"}, "fp32"),
    "AdamW foreach": ({"optimizer": "foreach"}, "fp32"),
    "AdamW fused": ({"optimizer": "fused"}, "fp32"),
    "weight norm once per phase": ({"cache_weight_norm": True}, "fp32"),
    "compile backbone + head": ({"compile": ["backbone", "head"]}, "fp32"),
    "compile mpd + mrd": ({"compile": ["mpd", "mrd"]}, "fp32"),
    "defaults (configs/model/perf/default.yaml)": (None, "fp32"),
    "bf16 plain": ({}, "bf16"),
    "bf16 MPD folded layout": ({"mpd_layout": "folded"}, "bf16"),
    "bf16 winograd + winograd_bf16": ({"winograd": True, "winograd_bf16": True}, "bf16"),
    "bf16 defaults": (None, "bf16"),
}
QUICK = ("plain", "winograd", "defaults (configs/model/perf/default.yaml)")  # a smoke run: no compiling


def run(opts: Options) -> dict:
    """Each ``model.perf`` option alone vs the plain step (all off) at its precision, A/B alternated."""
    from vocoder_train.training.perf import PLAIN

    quiet_lightning()
    peer = UpstreamStep(seed=0)
    variants = {k: VARIANTS[k] for k in QUICK} if opts.quick else dict(VARIANTS)
    variants = {k: v for k, v in variants.items() if v[1] in opts.precisions}

    def overrides(option: dict | None) -> list[str] | None:
        return (
            None
            if option is None
            else [f"model.perf.{k}={json.dumps(v)}" for k, v in {**PLAIN, **option}.items()]
        )

    modules = {k: build_ours(peer, overrides(v[0])) for k, v in variants.items()}
    del peer
    rounds = opts.reps + 1
    batches = make_batches(rounds, opts.batch, opts.segment, seed=1)
    times: dict[str, list[float]] = {k: [] for k in variants}
    first: dict[str, float] = {}
    losses: dict[str, dict] = {}
    precisions = list(dict.fromkeys(v[1] for v in variants.values()))
    for r, name in ab_schedule([[k for k, v in variants.items() if v[1] == p] for p in precisions], rounds):
        dt, ls = ours_step(modules[name], batches[r], variants[name][1], opts)
        if r == 0:
            first[name], losses[name] = dt, ls
        else:
            times[name].append(dt)
        progress("options", f"round {r} {name}: {dt:.2f} s")
    return {
        "times": times,
        "first_s": first,
        "losses": losses,
        "precision": {k: v[1] for k, v in variants.items()},
    }


def format_options(res: dict, opts: Options) -> str:
    times = res["times"]
    lines = [
        f"Speed options (model.perf), each alone vs the plain step (every option off) at the same precision, "
        f"batch {opts.batch} x {opts.segment}, {opts.reps} timed iterations after 1 warm-up (the warm-up "
        "includes "
        "compiling). Loss diffs: iteration 1, relative to the plain step; the D terms come before any "
        "update, "
        "the G terms after one D update (AdamW's first step, about lr x sign(gradient), turns rounding-level "
        "gradient differences of near-zero entries into weight differences)",
        "",
        "| option | precision | s / iteration, median (min-max) | ratio to plain | first iteration s | "
        "max rel. diff, D terms | max rel. diff, G terms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, ts in times.items():
        precision = res["precision"][name]
        plain = "plain" if precision == "fp32" else "bf16 plain"
        ref, base = statistics.median(times[plain]), res["losses"][plain]

        diff = {
            prefix: max(
                abs(res["losses"][name][k] - v) / max(abs(v), 1e-12)
                for k, v in base.items()
                if k in TERMS and k.startswith(prefix)
            )
            for prefix in ("d_", "g_")
        }
        lines.append(
            f"| {name} | {precision} | {fmt_s(ts)} | {statistics.median(ts) / ref:.3f} | "
            f"{res['first_s'][name]:.1f} | {diff['d_']:.1e} | {diff['g_']:.1e} |"
        )
    return "\n".join(lines)


BENCHMARK = Benchmark("options", "Speed options", run, format_options)
